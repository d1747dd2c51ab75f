# Stage 2 for the supervised ImageNet ViT-L/16: ../adala_stage2_dinov2_l_in22k.py with this
# teacher, on 512-px crops, the student starting from its stage-1 export.
# Run: tools/dist_train.sh configs/in1k_l/adala_stage2_in1k_l_in22k.py 8
_base_ = ['../adala_stage2_dinov2_l_in22k.py', '../_base_/alignment_pipelines_patch16.py']

in1k_checkpoint = 'checkpoints/vit_large_patch16_224.augreg_in21k_ft_in1k.safetensors'
stage1_export = 'work_dirs/adala_stage1_in1k_l_coco/backbone_final.pth'
model = dict(
    teacher=dict(arch='in1k_vitl16', init_cfg=dict(checkpoint=in1k_checkpoint)),
    student=dict(init_cfg=dict(checkpoint=stage1_export)))
train_dataloader = dict(dataset=dict(pipeline={{_base_.patch16_train_pipeline}}))
val_dataloader = dict(dataset=dict(pipeline={{_base_.patch16_val_pipeline}}))
