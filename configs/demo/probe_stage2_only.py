# Demo ablation row: stage 2 from the teacher's weights, no stage 1 (paper: 52.46 mIoU).
_base_ = ['./linear_probe.py']

model = dict(backbone=dict(attn_type='linear', init_cfg=dict(checkpoint='work_dirs/demo/seed0/stage2_only/backbone_final.pth')))
