# Stage 2 for Google's SigLIP ViT-L/16 (256 px, WebLI): ../adala_stage2_dinov2_l_in22k.py with
# this teacher, on 512-px crops, the student starting from its stage-1 export.
# Run: tools/dist_train.sh configs/siglip_l/adala_stage2_siglip_l_in22k.py 8
_base_ = ['../adala_stage2_dinov2_l_in22k.py', '../_base_/alignment_pipelines_patch16.py']

siglip_checkpoint = 'checkpoints/vit_large_patch16_siglip_256.webli.safetensors'
stage1_export = 'work_dirs/adala_stage1_siglip_l_coco/backbone_final.pth'
model = dict(
    teacher=dict(arch='siglip_vitl16', init_cfg=dict(checkpoint=siglip_checkpoint)),
    student=dict(init_cfg=dict(checkpoint=stage1_export)))
train_dataloader = dict(dataset=dict(pipeline={{_base_.patch16_train_pipeline}}))
val_dataloader = dict(dataset=dict(pipeline={{_base_.patch16_val_pipeline}}))
