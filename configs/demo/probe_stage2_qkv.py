# Demo ablation row: stages 1+2 with only Q/K/V trained in stage 2 (paper: 48.82 mIoU).
_base_ = ['./linear_probe.py']

model = dict(backbone=dict(attn_type='linear', init_cfg=dict(checkpoint='work_dirs/demo/seed0/stage2_qkv/backbone_final.pth')))
