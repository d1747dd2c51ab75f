# Baseline: the softmax teacher itself (official DINOv2-L weights) with Mask2Former on Cityscapes
# at 1024x1024 crops (paper: 80.98 mIoU), trained exactly like
# configs/adala_dinov2_l_cityscapes_mask2former_1024.py.
_base_ = ['./adala_dinov2_l_cityscapes_mask2former_1024.py']

model = dict(backbone=dict(attn_type='softmax',
                           init_cfg=dict(checkpoint='checkpoints/dinov2_vitl14_pretrain.pth')))
