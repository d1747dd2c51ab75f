# Stage 3 for Meta's DINOv3 ViT-L/16 (LVD-1689M): ../adala_dinov2_l_ade20k.py (UperNet on
# blocks 6, 12, 18, 24; 512x512 crops, 32x32 patches of 16 px) on its stage-2 export.
# Run: tools/dist_train.sh configs/dinov3_l/adala_dinov3_l_ade20k.py 8
_base_ = ['../adala_dinov2_l_ade20k.py']

stage2_export = 'work_dirs/adala_stage2_dinov3_l_in22k/backbone_final.pth'
model = dict(backbone=dict(arch='dinov3_vitl16', init_cfg=dict(checkpoint=stage2_export)))
