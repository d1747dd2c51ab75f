# Demo ablation row: linear attention on the teacher's weights, no alignment (paper: 22.92 mIoU).
_base_ = ['./linear_probe.py']

model = dict(backbone=dict(attn_type='linear', init_cfg=dict(checkpoint='work_dirs/demo/teacher/dinov2_tiny_pretrain.pth')))
