# Demo ablation row: the softmax teacher itself.
_base_ = ['./linear_probe.py']

model = dict(backbone=dict(attn_type='softmax', init_cfg=dict(checkpoint='work_dirs/demo/teacher/dinov2_tiny_pretrain.pth')))
