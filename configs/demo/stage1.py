# Stage 1 of the demo: attention alignment of the 6-block teacher on the unlabeled images of
# the pretraining set (the demo's COCO), shown whole (no crops: the key must stay in view).
_base_ = ['../tiny/adala_stage1_tiny.py', './_base_/demo_vit.py']

images = 'work_dirs/demo/data/context_pretrain/images'
model = dict(teacher=dict(vit_cfg={{_base_.demo_vit_cfg}}, img_size=112,
                          init_cfg=dict(checkpoint='work_dirs/demo/teacher/dinov2_tiny_pretrain.pth')))
train_dataloader = dict(batch_size=16, dataset=dict(data_root=f'{images}/training', pipeline=[
    dict(type='LoadImageOrSkip'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')]))
val_dataloader = dict(batch_size=16, dataset=dict(data_root=f'{images}/validation', pipeline=[
    dict(type='LoadImageOrSkip'),
    dict(type='PackSegInputs')]))
max_iters = 300
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=max_iters, eta_min=1e-6)]
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=max_iters))
