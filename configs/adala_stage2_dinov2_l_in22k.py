# Stage 2 (feature alignment) for DINOv2-L on ImageNet-22K images (class folders; labels unused).
# Schedule: our reading of the paper: 518px crops, 256 images per step (32 GPUs x 8 or
# gradient accumulation), AdamW 5e-5, 30k iterations. Every student parameter trains.
# Run: tools/dist_train.sh configs/adala_stage2_dinov2_l_in22k.py 8
_base_ = ['./_base_/alignment_runtime.py']

dinov2_checkpoint = 'checkpoints/dinov2_vitl14_pretrain.pth'
stage1_export = 'work_dirs/adala_stage1_dinov2_l_coco/backbone_final.pth'
model = dict(
    type='FeatureAlignModel',
    data_preprocessor={{_base_.data_preprocessor}},
    teacher=dict(type='AdaLAViT', arch='dinov2_vitl14', attn_type='softmax',
                 init_cfg=dict(type='Pretrained', checkpoint=dinov2_checkpoint)),
    # The teacher's architecture with linear attention, from the stage-1 export.
    student=dict(attn_type='linear', feature_map='elu',
                 init_cfg=dict(type='Pretrained', checkpoint=stage1_export)))
train_dataloader = dict(dataset=dict(data_root='data/imagenet22k/train'))
val_dataloader = dict(dataset=dict(data_root='data/imagenet22k/val'))
optim_wrapper = dict(optimizer=dict(lr=5e-5))
train_cfg = dict(type='FeatureAlignLoop', max_iters=30000, val_interval=5000)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=500),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=500, end=30000, eta_min=1e-6),
]
