# Demo baseline: the L2ViT-style ViT, stage 2 from its stage-1 export (configs/l2vit/ at full scale).
_base_ = ['./stage2.py']

model = dict(student=dict(
    attn_type=['window', 'linear'] * 3, feature_map='relu', attn_cfg=dict(window_size=2, local_concentration=True),
    init_cfg=dict(checkpoint='work_dirs/demo/seed0/stage1_l2vit/backbone_final.pth')))
