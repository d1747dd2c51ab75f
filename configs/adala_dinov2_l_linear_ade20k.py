# Stage 3, linear probing: the frozen stage-2 linear DINOv2-L with DINOv2's linear head
# (BatchNorm + 1x1 conv on the last 4 blocks, concatenated) on ADE20K, 512x512, 40k iterations.
# For full fine-tuning instead, set model.backbone.frozen_blocks=0.
_base_ = ['./adala_dinov2_l_ade20k.py']

model = dict(
    backbone=dict(out_indices=(20, 21, 22, 23), frozen_blocks='all', drop_path_rate=0.0),
    neck=None,
    decode_head=dict(_delete_=True, type='BNHead', in_channels=[1024] * 4, in_index=[0, 1, 2, 3],
                     channels=4096, dropout_ratio=0.0, num_classes=150, norm_cfg={{_base_.norm_cfg}},
                     align_corners=False,
                     loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=None)
optim_wrapper = dict(_delete_=True, type='AmpOptimWrapper', dtype='bfloat16',
                     optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=1e-4))
param_scheduler = [dict(type='PolyLR', eta_min=0.0, power=1.0, begin=0, end=40000, by_epoch=False)]
train_cfg = dict(max_iters=40000, val_interval=4000)
default_hooks = dict(checkpoint=dict(interval=4000))
