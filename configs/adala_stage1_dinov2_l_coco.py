# Stage 1 (attention alignment) for DINOv2-L on COCO train2017 images (no labels).
# Schedule: our reading of the paper (not stated there in full): 518px crops, 64 images per
# step (8 GPUs x 8), AdamW 1e-4, 10k iterations ~ 5 COCO epochs. Only Q/K/V train.
# Run: tools/dist_train.sh configs/adala_stage1_dinov2_l_coco.py 8
_base_ = ['./_base_/alignment_runtime.py']

dinov2_checkpoint = 'checkpoints/dinov2_vitl14_pretrain.pth'  # official DINOv2 release file
model = dict(
    type='AttentionAlignModel',
    data_preprocessor={{_base_.data_preprocessor}},
    teacher=dict(type='AdaLAViT', arch='dinov2_vitl14', attn_type='softmax',
                 init_cfg=dict(type='Pretrained', checkpoint=dinov2_checkpoint)),
    student=dict(attn_type='linear', feature_map='elu'))
train_cfg = dict(type='AttentionAlignLoop', max_iters=10000, val_interval=2000)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=500),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=500, end=10000, eta_min=1e-6),
]
