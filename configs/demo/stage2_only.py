# Demo ablation: stage 2 alone, its linear student starting from the teacher's own weights.
_base_ = ['./stage2.py']

model = dict(student=dict(init_cfg=dict(checkpoint='work_dirs/demo/teacher/dinov2_tiny_pretrain.pth')))
