# The alignment pipelines of alignment_runtime.py at 512 px (32x32 patches of 16 px: SigLIP,
# DINOv3) instead of 518 px (37x37 of 14 px). The names are new, so a stage config can take
# these and the DINOv2 stage config as its two bases and pick them by name.
patch16_crop_size = 512
patch16_train_pipeline = [
    dict(type='LoadImageOrSkip'),
    dict(type='RandomResizedCrop', size=patch16_crop_size, scale=(0.3, 1.0)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
patch16_val_pipeline = [
    dict(type='LoadImageOrSkip'),
    dict(type='Resize', scale=(patch16_crop_size, patch16_crop_size), keep_ratio=False),
    dict(type='PackSegInputs'),
]
