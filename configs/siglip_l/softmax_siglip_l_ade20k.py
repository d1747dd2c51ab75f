# Baseline: the softmax teacher itself with UperNet on ADE20K, trained like
# adala_siglip_l_ade20k.py.
_base_ = ['./adala_siglip_l_ade20k.py']

siglip_checkpoint = 'checkpoints/vit_large_patch16_siglip_256.webli.safetensors'
model = dict(backbone=dict(attn_type='softmax', init_cfg=dict(checkpoint=siglip_checkpoint)))
