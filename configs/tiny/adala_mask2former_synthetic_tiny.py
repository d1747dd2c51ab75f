# Mask2Former at toy scale, for the tests on CPU: ../adala_dinov2_l_ade20k_mask2former_512.py with
# a 4-block ViT of width 48, a 32-channel head (8 queries, 1 encoder and 3 decoder layers) and
# the synthetic ADE20K-layout data of ./adala_upernet_synthetic_tiny.py. Paths are overridden by the caller.
_base_ = ['../adala_dinov2_l_ade20k_mask2former_512.py']

data_root = 'data/synthetic_ade20k'
crop_size = (112, 112)
num_classes = 3
metainfo = dict(classes=('wall', 'building', 'sky'), palette=[[120, 120, 120], [180, 120, 120], [6, 230, 230]])
channels = 32  # GroupNorm's 32 groups: one channel each

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(arch='dinov2_vits14', vit_cfg=dict(embed_dim=48, depth=4, num_heads=2), img_size=112,
                  out_indices=(0, 1, 2, 3), drop_path_rate=0.0, init_cfg=None),
    neck=dict(embed_dim=48, norm_cfg=dict(type='BN', requires_grad=True)),  # one CPU process: no SyncBN
    decode_head=dict(
        in_channels=[48] * 4, feat_channels=channels, out_channels=channels, num_classes=num_classes,
        num_queries=8,
        pixel_decoder=dict(encoder=dict(num_layers=1, layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=channels, num_heads=2),
            ffn_cfg=dict(embed_dims=channels, feedforward_channels=64))),
            positional_encoding=dict(num_feats=channels // 2)),
        positional_encoding=dict(num_feats=channels // 2),
        transformer_decoder=dict(num_layers=3, layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=channels, num_heads=2),
            cross_attn_cfg=dict(embed_dims=channels, num_heads=2),
            ffn_cfg=dict(embed_dims=channels, feedforward_channels=64))),
        loss_cls=dict(class_weight=[1.0] * num_classes + [0.1]),
        train_cfg=dict(num_points=1024)))

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
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=train_pipeline))
val_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=2e-3))
max_iters = 20
param_scheduler = [dict(type='PolyLR', eta_min=0, power=0.9, begin=0, end=max_iters, by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(by_epoch=False, interval=max_iters, save_best=None))
