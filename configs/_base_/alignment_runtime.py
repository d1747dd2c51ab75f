# Runtime shared by the alignment stages 1 and 2: iteration-based, unlabeled image folders,
# validation = alignment quality on a held-out folder, backbone exported with each checkpoint.
_base_ = ['mmseg::_base_/default_runtime.py']
custom_imports = dict(imports=['mmseg_adala'], allow_failed_imports=False)

# RGB input; mean/std are left out: the model fills in the teacher arch's own normalisation
# (ImageNet's for DINOv2/v3, OpenAI's for CLIP, 0.5 for SigLIP), so a config that changes the
# arch needs no other change.
data_preprocessor = dict(type='ImgDataPreprocessor', bgr_to_rgb=True)

crop_size = 518  # DINOv2's own resolution (a 37x37 patch grid)
train_pipeline = [
    dict(type='LoadImageOrSkip'),
    dict(type='RandomResizedCrop', size=crop_size, scale=(0.3, 1.0)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
val_pipeline = [
    dict(type='LoadImageOrSkip'),
    dict(type='Resize', scale=(crop_size, crop_size), keep_ratio=False),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=8, num_workers=8, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='UnlabeledImageFolder', data_root='data/coco/train2017', pipeline=train_pipeline))
# test_mode: an unreadable validation image is an error naming it, never replaced by another.
val_dataloader = dict(
    batch_size=8, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='UnlabeledImageFolder', data_root='data/coco/val2017', pipeline=val_pipeline,
                 test_mode=True))
val_evaluator = dict(type='AlignmentMetric')
val_cfg = dict(type='ValLoop')

# The constructor's default rules keep weight decay off the 1-D tensors (norms, biases,
# LayerScale gammas), the tokens and the position embeddings: they are to match the
# teacher's, not shrink towards 0. No layer-wise lr decay here (no decay_rate).
optim_wrapper = dict(type='AmpOptimWrapper', dtype='bfloat16',
                     optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
                     constructor='ViTLayerDecayOptimizerConstructor', clip_grad=dict(max_norm=1.0))
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=2000, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
custom_hooks = [dict(type='BackboneExportHook'), dict(type='EffectiveBatchHook')]
log_processor = dict(by_epoch=False)
