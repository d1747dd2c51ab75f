# Stage 3 for Google's SigLIP ViT-L/16 (256 px, WebLI): ../adala_dinov2_l_ade20k.py (UperNet on
# blocks 6, 12, 18, 24; 512x512 crops, 32x32 patches of 16 px) on its stage-2 export.
# Run: tools/dist_train.sh configs/siglip_l/adala_siglip_l_ade20k.py 8
_base_ = ['../adala_dinov2_l_ade20k.py']

stage2_export = 'work_dirs/adala_stage2_siglip_l_in22k/backbone_final.pth'
model = dict(backbone=dict(arch='siglip_vitl16', init_cfg=dict(checkpoint=stage2_export)))
