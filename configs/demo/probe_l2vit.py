# Demo baseline row: the L2ViT-style ViT after stages 1+2.
_base_ = ['./linear_probe.py']

model = dict(backbone=dict(
    attn_type=['window', 'linear'] * 3, feature_map='relu', attn_cfg=dict(window_size=2, local_concentration=True),
    init_cfg=dict(checkpoint='work_dirs/demo/seed0/stage2_l2vit/backbone_final.pth')))
