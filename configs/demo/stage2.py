# Stage 2 of the demo: feature alignment of the whole linear ViT, from stage 1's export, on
# the same unlabeled images (the demo's ImageNet-22K).
_base_ = ['./stage1.py']

model = dict(
    _delete_=True,
    type='FeatureAlignModel',
    data_preprocessor={{_base_.data_preprocessor}},
    teacher={{_base_.model.teacher}},
    student=dict(attn_type='linear', feature_map='elu',
                 init_cfg=dict(type='Pretrained', checkpoint='work_dirs/demo/seed0/stage1/backbone_final.pth')))
train_cfg = dict(type='FeatureAlignLoop')
optim_wrapper = dict(optimizer=dict(lr=3e-4))
