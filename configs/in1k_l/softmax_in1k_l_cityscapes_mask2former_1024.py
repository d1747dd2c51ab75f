# Baseline: the softmax supervised ImageNet ViT-L/16 itself with Mask2Former on Cityscapes (paper:
# 72.21 mIoU), trained like adala_in1k_l_cityscapes_mask2former_1024.py.
_base_ = ['./adala_in1k_l_cityscapes_mask2former_1024.py']

in1k_checkpoint = 'checkpoints/vit_large_patch16_224.augreg_in21k_ft_in1k.safetensors'
model = dict(backbone=dict(attn_type='softmax', init_cfg=dict(checkpoint=in1k_checkpoint)))
