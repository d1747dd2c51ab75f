# Baseline: the softmax teacher itself with UperNet on ADE20K, trained like
# adala_dinov3_l_ade20k.py.
_base_ = ['./adala_dinov3_l_ade20k.py']

dinov3_checkpoint = 'checkpoints/dinov3_vitl16_pretrain_lvd1689m.pth'
model = dict(backbone=dict(attn_type='softmax', init_cfg=dict(checkpoint=dinov3_checkpoint)))
