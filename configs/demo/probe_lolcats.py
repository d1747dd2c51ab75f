# Demo baseline row: LoLCATs' stage-1 export (window + Hedgehog, no stage 2) (paper: 17.42 mIoU).
_base_ = ['./linear_probe.py']

model = dict(backbone=dict(
    attn_type='window_linear', feature_map='hedgehog', attn_cfg=dict(window_size=2, feature_map_cfg=dict(bias=False)),
    init_cfg=dict(checkpoint='work_dirs/demo/seed0/stage1_lolcats/backbone_final.pth')))
