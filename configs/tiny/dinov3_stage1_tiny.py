# Stage 1 of ../dinov3_l/adala_stage1_dinov3_l_coco.py at toy scale: the tiny stage-1 settings
# with a 2-block dinov3_vitl16 teacher. Paths are overridden by the caller.
_base_ = ['./adala_stage1_tiny.py']

model = dict(teacher=dict(arch='dinov3_vitl16', init_cfg=dict(checkpoint='work_dirs/tiny/teacher_dinov3.pth')))
