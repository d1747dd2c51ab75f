# Stage 1 of ../clip_l/adala_stage1_clip_l_coco.py at toy scale: the tiny stage-1 settings
# with a 2-block clip_vitl14 teacher. Paths are overridden by the caller.
_base_ = ['./adala_stage1_tiny.py']

model = dict(teacher=dict(arch='clip_vitl14', init_cfg=dict(checkpoint='work_dirs/tiny/teacher_clip.pth')))
