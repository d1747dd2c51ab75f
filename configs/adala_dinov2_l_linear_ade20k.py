# Stage 3, linear probing as DINOv2's "lin." ADE20K protocol (DINOv2 paper, Table 10; its
# released dinov2_vitl14_ade20k_linear_config.py): the frozen stage-2 linear DINOv2-L, BatchNorm
# + 1x1 conv on the last block's patch tokens (after the final norm), 512x512 crops, 16 images
# per step (8 GPUs x 2), AdamW 1e-3 with weight decay 1e-4, 1500 iterations of linear warm-up
# then poly decay, 40k iterations, tested in 512x512 sliding windows (stride 341).
# The last 4 blocks and multi-scale testing ("+ms"): configs/adala_dinov2_l_linear_ms_ade20k.py.
# For full fine-tuning instead, set model.backbone.frozen_blocks=0.
_base_ = ['./adala_dinov2_l_ade20k.py']

model = dict(
    backbone=dict(out_indices=(23,), frozen_blocks='all', drop_path_rate=0.0),
    neck=None,
    decode_head=dict(_delete_=True, type='BNHead', in_channels=[1024], in_index=[0], channels=1024,
                     dropout_ratio=0.0, num_classes=150, norm_cfg={{_base_.norm_cfg}}, align_corners=False,
                     loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=None,
    test_cfg=dict(_delete_=True, mode='slide', crop_size=(512, 512), stride=(341, 341)))
optim_wrapper = dict(_delete_=True, type='AmpOptimWrapper', dtype='bfloat16',
                     optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=40000, by_epoch=False),
]
train_cfg = dict(max_iters=40000, val_interval=4000)
default_hooks = dict(checkpoint=dict(interval=4000))
