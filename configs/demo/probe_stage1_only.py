# Demo ablation row: stage 1's export, no stage 2 (paper: 19.37 mIoU).
_base_ = ['./linear_probe.py']

model = dict(backbone=dict(attn_type='linear', init_cfg=dict(checkpoint='work_dirs/demo/seed0/stage1/backbone_final.pth')))
