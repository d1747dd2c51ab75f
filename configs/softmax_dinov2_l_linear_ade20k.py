# Baseline: the frozen softmax teacher (official DINOv2-L weights) with DINOv2's linear head,
# trained exactly like configs/adala_dinov2_l_linear_ade20k.py.
_base_ = ['./adala_dinov2_l_linear_ade20k.py']

model = dict(backbone=dict(attn_type='softmax',
                           init_cfg=dict(checkpoint='checkpoints/dinov2_vitl14_pretrain.pth')))
