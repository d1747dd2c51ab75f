# Linear probing as DINOv2's "+ms" ADE20K protocol (DINOv2 paper, Table 10; its released
# dinov2_vitl14_ade20k_ms_config.py): BatchNorm + 1x1 conv on the last 4 blocks' patch tokens,
# concatenated; 640x640 crops from images resized to a short side of 640 x [1, 3]; tested on 5
# scales (short side 640 x 1, 1.32, 1.73, 2.28, 3) and their flips, each in 640x640 sliding
# windows (stride 320), the probabilities averaged. Otherwise trained as "lin."
# (configs/adala_dinov2_l_linear_ade20k.py). The multi-scale test needs --tta:
# tools/test.py configs/adala_dinov2_l_linear_ms_ade20k.py CKPT --tta
# (without it, validation and testing use the single scale 640, in sliding windows).
_base_ = ['./adala_dinov2_l_linear_ade20k.py']

crop_size = (640, 640)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(out_indices=(20, 21, 22, 23)),
    decode_head=dict(in_channels=[1024] * 4, in_index=[0, 1, 2, 3], channels=4096),
    test_cfg=dict(crop_size=crop_size, stride=(320, 320)))

# Short side 640 (the long side capped at 4x that, as MMSeg's (2048, 512)).
scale = (2560, 640)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=scale, ratio_range=(1.0, 3.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
img_ratios = [1.0, 1.32, 1.73, 2.28, 3.0]
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', scale=(int(scale[0] * r), int(scale[1] * r)), keep_ratio=True) for r in img_ratios],
        [dict(type='RandomFlip', prob=0., direction='horizontal'),
         dict(type='RandomFlip', prob=1., direction='horizontal')],
        [dict(type='LoadAnnotations')],
        [dict(type='PackSegInputs')]]),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
