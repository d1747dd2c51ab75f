# Stage 3 for OpenAI's CLIP ViT-L/14: ../adala_dinov2_l_ade20k.py (UperNet on
# blocks 6, 12, 18, 24; 512x512 crops, resized to 518 = 37 patches of 14 px) on its stage-2 export.
# Run: tools/dist_train.sh configs/clip_l/adala_clip_l_ade20k.py 8
_base_ = ['../adala_dinov2_l_ade20k.py']

stage2_export = 'work_dirs/adala_stage2_clip_l_in22k/backbone_final.pth'
model = dict(backbone=dict(arch='clip_vitl14', init_cfg=dict(checkpoint=stage2_export)))
