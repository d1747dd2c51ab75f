# Stage 3: the stage-2 linear DINOv2-L with UperNet on ADE20K, 512x512 crops, 160k iterations.
# Run: tools/dist_train.sh configs/adala_dinov2_l_ade20k.py 8
# Other backbone weights: --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = [
    './_base_/models/upernet_adala_vit_l.py', 'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py', './_base_/schedules/adala_finetune_160k.py',
]
custom_imports = dict(imports=['mmseg_adala'], allow_failed_imports=False)

crop_size = (512, 512)
stage2_export = 'work_dirs/adala_stage2_dinov2_l_in22k/backbone_final.pth'
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=stage2_export)),
    # Whole-image inference: linear attention's cost grows linearly with the image, so
    # there is no need for MMSeg's sliding window (which hides the speed-up). For numbers
    # comparable with published ones: configs/adala_dinov2_l_ade20k_slide.py.
    test_cfg=dict(mode='whole'))

train_dataloader = dict(batch_size=2)  # x 8 GPUs = 16 images per step
