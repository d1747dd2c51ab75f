# Demo ablation row: the teacher with every attention removed (out = proj(v)): what attention adds.
_base_ = ['./linear_probe.py']

model = dict(backbone=dict(attn_type='none', init_cfg=dict(checkpoint='work_dirs/demo/teacher/dinov2_tiny_pretrain.pth')))
