# Baseline: the softmax SigLIP-L itself with Mask2Former on Cityscapes (paper: 76.53 mIoU),
# trained like adala_siglip_l_cityscapes_mask2former_1024.py.
_base_ = ['./adala_siglip_l_cityscapes_mask2former_1024.py']

siglip_checkpoint = 'checkpoints/vit_large_patch16_siglip_256.webli.safetensors'
model = dict(backbone=dict(attn_type='softmax', init_cfg=dict(checkpoint=siglip_checkpoint)))
