# Stage 1 at toy scale, for the tests and the demo on CPU: a 2-block DINOv2-shaped ViT.
# Paths are overridden by the caller (--cfg-options or the demo).
_base_ = ['../adala_stage1_dinov2_l_coco.py']

model = dict(teacher=dict(arch='dinov2_vits14', vit_cfg=dict(embed_dim=48, depth=2, num_heads=2), img_size=112,
                          init_cfg=dict(checkpoint='work_dirs/tiny/teacher_dinov2_layout.pth')))

crop_size = 112
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(data_root='data/tiny/images/training', pipeline=[
        dict(type='LoadImageOrSkip'),
        dict(type='RandomResizedCrop', size=crop_size, scale=(0.3, 1.0)),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackSegInputs')]))
val_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(data_root='data/tiny/images/validation', pipeline=[
        dict(type='LoadImageOrSkip'),
        dict(type='Resize', scale=(crop_size, crop_size), keep_ratio=False),
        dict(type='PackSegInputs')]))
optim_wrapper = dict(_delete_=True, type='OptimWrapper', clip_grad=dict(max_norm=1.0),
                     optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.0))
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
train_cfg = dict(max_iters=60, val_interval=30)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=30))
