# Stage 2 for Meta's DINOv3 ViT-L/16 (LVD-1689M): ../adala_stage2_dinov2_l_in22k.py with
# this teacher, on 512-px crops, the student starting from its stage-1 export.
# Run: tools/dist_train.sh configs/dinov3_l/adala_stage2_dinov3_l_in22k.py 8
_base_ = ['../adala_stage2_dinov2_l_in22k.py', '../_base_/alignment_pipelines_patch16.py']

dinov3_checkpoint = 'checkpoints/dinov3_vitl16_pretrain_lvd1689m.pth'
stage1_export = 'work_dirs/adala_stage1_dinov3_l_coco/backbone_final.pth'
model = dict(
    teacher=dict(arch='dinov3_vitl16', init_cfg=dict(checkpoint=dinov3_checkpoint)),
    student=dict(init_cfg=dict(checkpoint=stage1_export)))
train_dataloader = dict(dataset=dict(pipeline={{_base_.patch16_train_pipeline}}))
val_dataloader = dict(dataset=dict(pipeline={{_base_.patch16_val_pipeline}}))
