# Stage 3 on Cityscapes at 1024x1024 crops with UperNet, which needs MMSeg alone. The paper's
# setting is Mask2Former: adala_dinov2_l_cityscapes_mask2former_1024.py (needs mmdet).
# Test on whole 1024x2048 images: linear attention makes that affordable.
_base_ = [
    './_base_/models/upernet_adala_vit_l.py', 'mmseg::_base_/datasets/cityscapes_1024x1024.py',
    'mmseg::_base_/default_runtime.py', './_base_/schedules/adala_finetune_160k.py',
]
custom_imports = dict(imports=['mmseg_adala'], allow_failed_imports=False)

crop_size = (1024, 1024)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(init_cfg=dict(
        type='Pretrained', checkpoint='work_dirs/adala_stage2_dinov2_l_in22k/backbone_final.pth')),
    decode_head=dict(num_classes=19),
    auxiliary_head=dict(num_classes=19),
    test_cfg=dict(mode='whole'))
# 80k iterations, as MMSeg's Cityscapes schedules.
train_cfg = dict(max_iters=80000, val_interval=8000)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=80000, by_epoch=False),
]
train_dataloader = dict(batch_size=1)  # x 8 GPUs
