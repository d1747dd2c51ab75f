# Baseline: the softmax teacher itself with UperNet on ADE20K, trained like
# adala_clip_l_ade20k.py.
_base_ = ['./adala_clip_l_ade20k.py']

clip_checkpoint = 'checkpoints/ViT-L-14.pt'
model = dict(backbone=dict(attn_type='softmax', init_cfg=dict(checkpoint=clip_checkpoint)))
