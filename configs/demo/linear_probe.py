# Stage 3 of the demo: a frozen backbone and DINOv2's linear head (BatchNorm + 1x1 conv on the
# last block's patch tokens) on the context scenes (mmseg_adala/datasets/context_scenes.py).
# No layer of the head mixes patches, so the mIoU says what the backbone's own tokens know:
# an object's class is only in the image's key, which a token must attend to.
# This file is the ViT-AdaLA row (stages 1+2); configs/demo/probe_*.py are the other rows.
_base_ = ['../adala_dinov2_l_linear_ade20k.py', './_base_/demo_vit.py']

data_root = 'work_dirs/demo/data/context_ade20k'
num_classes = 4  # background + 3 object classes, one per key hue
# The first 4 ADE20K classes and colours: MMSeg's label map is then the identity on them.
metainfo = dict(classes=('wall', 'building', 'sky', 'floor'),
                palette=[[120, 120, 120], [180, 120, 120], [6, 230, 230], [80, 50, 50]])
norm_cfg = dict(type='BN', requires_grad=True)  # one CPU process: no SyncBN

model = dict(
    data_preprocessor=dict(size=(112, 112)),  # the scenes' own size, a multiple of the patch
    backbone=dict(arch='dinov2_vits14', vit_cfg={{_base_.demo_vit_cfg}}, img_size=112,
                  attn_type='linear', feature_map='elu', out_indices=(-1,), frozen_blocks='all',
                  drop_path_rate=0.0,
                  init_cfg=dict(type='Pretrained', checkpoint='work_dirs/demo/seed0/stage2/backbone_final.pth')),
    decode_head=dict(in_channels=[64], in_index=[0], channels=64, num_classes=num_classes,
                     norm_cfg=norm_cfg),
    test_cfg=dict(mode='whole'))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),  # ADE20KDataset sets reduce_zero_label: the key is ignored
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=16, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=train_pipeline))
val_dataloader = dict(batch_size=16, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(_delete_=True, type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=3e-3, betas=(0.9, 0.999), weight_decay=1e-4))
max_iters = 300
param_scheduler = [dict(type='PolyLR', eta_min=0.0, power=1.0, begin=0, end=max_iters, by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(by_epoch=False, interval=max_iters))
