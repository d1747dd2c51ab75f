# Baseline: the frozen softmax teacher (official DINOv2-L weights) under DINOv2's "+ms" linear
# protocol, trained and tested exactly like configs/adala_dinov2_l_linear_ms_ade20k.py.
_base_ = ['./adala_dinov2_l_linear_ms_ade20k.py']

model = dict(backbone=dict(attn_type='softmax',
                           init_cfg=dict(checkpoint='checkpoints/dinov2_vitl14_pretrain.pth')))
