# The paper's Cityscapes setting for the supervised ImageNet ViT-L/16 (paper: 68.25 mIoU; softmax
# 72.21): ../adala_dinov2_l_cityscapes_mask2former_1024.py on its stage-2 export.
# Run: tools/dist_train.sh configs/in1k_l/adala_in1k_l_cityscapes_mask2former_1024.py 8
_base_ = ['../adala_dinov2_l_cityscapes_mask2former_1024.py']

stage2_export = 'work_dirs/adala_stage2_in1k_l_in22k/backbone_final.pth'
model = dict(backbone=dict(arch='in1k_vitl16', init_cfg=dict(checkpoint=stage2_export)))
