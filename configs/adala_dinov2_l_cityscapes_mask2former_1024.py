# The paper's Cityscapes setting: the stage-2 linear DINOv2-L, Feature2Pyramid and MMSeg's
# Mask2Former head at 1024x1024 crops (paper: 78.73 mIoU; softmax teacher 80.98). MMSeg's recipe
# (mask2former_r50_8xb2-90k_cityscapes-512x1024.py: 90k iterations, 16 images per step, 100
# queries, 9 decoder layers, short-side jitter 512-2048) with the paper's crop and our backbone,
# neck and optimiser (./_base_/models/mask2former_adala_vit_l.py). Test: whole 1024x2048 images.
# Needs mmdet: pip install "mmseg-adala[mask2former]".
# Run: tools/dist_train.sh configs/adala_dinov2_l_cityscapes_mask2former_1024.py 8
_base_ = ['mmseg::mask2former/mask2former_r50_8xb2-90k_cityscapes-512x1024.py',
          './_base_/models/mask2former_adala_vit_l.py']
custom_imports = dict(imports=['mmseg_adala'], allow_failed_imports=False)

crop_size = (1024, 1024)
model = dict(
    type='AdaLAMask2Former',
    # mean/std: the arch's; no padding to 32 px at test (the ViT resizes to whole patches)
    data_preprocessor=dict(mean=None, std=None, size=crop_size, test_cfg=None),
    backbone={{_base_.m2f_backbone}},
    neck={{_base_.m2f_neck}},
    decode_head=dict(in_channels=[1024] * 4),
    test_cfg={{_base_.m2f_test_cfg}})
# MMSeg's pipeline with the paper's crop
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomChoiceResize', scales=[int(1024 * x * 0.1) for x in range(5, 21)],
         resize_type='ResizeShortestEdge', max_size=4096),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))  # 2 images x 8 GPUs
optim_wrapper = {{_base_.m2f_optim_wrapper}}
custom_hooks = [dict(type='EffectiveBatchHook')]
