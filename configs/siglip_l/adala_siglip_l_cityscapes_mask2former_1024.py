# The paper's Cityscapes setting for Google's SigLIP ViT-L/16 (paper: 73.33 mIoU; softmax 76.53):
# ../adala_dinov2_l_cityscapes_mask2former_1024.py on its stage-2 export (1024x1024 crops: 64x64
# patches of 16 px).
# Run: tools/dist_train.sh configs/siglip_l/adala_siglip_l_cityscapes_mask2former_1024.py 8
_base_ = ['../adala_dinov2_l_cityscapes_mask2former_1024.py']

stage2_export = 'work_dirs/adala_stage2_siglip_l_in22k/backbone_final.pth'
model = dict(backbone=dict(arch='siglip_vitl16', init_cfg=dict(checkpoint=stage2_export)))
