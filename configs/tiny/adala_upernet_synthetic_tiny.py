# Stage 3 at toy scale, for the tests and the demo on CPU: the tiny linear ViT + UperNet on
# the synthetic ADE20K-layout data (tools/make_synthetic_ade20k.py --num-classes 3: vertical
# stripes, checkerboards, horizontal stripes, in random colours). Paths are overridden by the caller.
_base_ = ['../adala_dinov2_l_ade20k.py']

data_root = 'data/synthetic_ade20k'
crop_size = (112, 112)
num_classes = 3
# The first 3 ADE20K classes and colours: MMSeg's label map is then the identity on them.
metainfo = dict(classes=('wall', 'building', 'sky'), palette=[[120, 120, 120], [180, 120, 120], [6, 230, 230]])
norm_cfg = dict(type='BN', requires_grad=True)  # one CPU process: no SyncBN

model = dict(
    data_preprocessor=dict(size=crop_size),
    # One block output; the neck repeats it at the 4 scales UperNet takes.
    backbone=dict(arch='dinov2_vits14', vit_cfg=dict(embed_dim=48, depth=2, num_heads=2), img_size=112,
                  out_indices=(-1,), drop_path_rate=0.0,
                  init_cfg=dict(checkpoint='work_dirs/tiny_stage2/backbone_final.pth')),
    neck=dict(in_channels=[48], out_channels=48),
    decode_head=dict(in_channels=[48] * 4, channels=32, num_classes=num_classes, norm_cfg=norm_cfg),
    auxiliary_head=dict(in_channels=48, channels=16, num_classes=num_classes, norm_cfg=norm_cfg))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),  # ADE20KDataset sets reduce_zero_label
    dict(type='RandomResize', scale=(128, 128), ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='LoadAnnotations'),  # ADE20KDataset sets reduce_zero_label
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=8, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=train_pipeline))
val_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(_delete_=True, type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=2e-3, betas=(0.9, 0.999), weight_decay=0.01),
                     constructor='ViTLayerDecayOptimizerConstructor', paramwise_cfg=dict(decay_rate=0.9))
max_iters = 300
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=30),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=30, end=max_iters, by_epoch=False),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(by_epoch=False, interval=max_iters))
