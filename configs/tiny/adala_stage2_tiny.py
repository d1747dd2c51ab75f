# Stage 2 at toy scale, for the tests and the demo on CPU: the tiny stage-1 settings with
# the stage-2 model and loop (as in ../adala_stage2_dinov2_l_in22k.py). Paths are overridden
# by the caller.
_base_ = ['./adala_stage1_tiny.py']

model = dict(
    _delete_=True,
    type='FeatureAlignModel',
    data_preprocessor={{_base_.data_preprocessor}},
    teacher={{_base_.model.teacher}},
    student=dict(attn_type='linear', feature_map='elu',
                 init_cfg=dict(type='Pretrained', checkpoint='work_dirs/tiny_stage1/backbone_final.pth')))
train_cfg = dict(type='FeatureAlignLoop')
# Stage 1 leaves the features close already; at stage 1's 1e-3, AdamW's update noise on every
# parameter would undo that.
optim_wrapper = dict(optimizer=dict(lr=1e-4))
