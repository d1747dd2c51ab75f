# Stage 2 (feature alignment) for DINOv2-L on ImageNet-22K images (class folders; labels unused).
# Schedule: our reading of the paper: 518px crops, 256 images per optimizer step (8 GPUs x 8
# images x 4 accumulated iterations), AdamW 5e-5, 30k optimizer steps (7.7M images, about half
# an epoch). mmengine counts iterations, so max_iters and the schedules are 4x that. Every
# student parameter trains. On 32 GPUs: --cfg-options optim_wrapper.accumulative_counts=1 and
# the iteration counts divided by 4.
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
# ImageNet-22K has no validation split: every 10000th image of the sorted training list (about
# 1,400 of 14.2M, from all classes) is held out for validation and never trained on.
held_out_every = 10000
train_dataloader = dict(dataset=dict(data_root='data/imagenet22k/train', held_out_every=held_out_every))
val_dataloader = dict(dataset=dict(data_root='data/imagenet22k/train', held_out_every=held_out_every,
                                   held_out=True))
optim_wrapper = dict(optimizer=dict(lr=5e-5), accumulative_counts=4)
train_cfg = dict(type='FeatureAlignLoop', max_iters=120000, val_interval=20000)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=2000),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=2000, end=120000, eta_min=1e-6),
]
