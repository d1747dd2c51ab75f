# Stage 1 for Meta's DINOv3 ViT-L/16 (LVD-1689M): ../adala_stage1_dinov2_l_coco.py with
# another teacher, on 512-px crops (32x32 patches of 16 px). Its mean/std come with the arch.
# DINOv3 has rotary position embeddings: its linear attention rotates the feature maps in
# the numerator only (mmseg_adala/ops/rotary_linear_attention.py).
# Run: tools/dist_train.sh configs/dinov3_l/adala_stage1_dinov3_l_coco.py 8
_base_ = ['../adala_stage1_dinov2_l_coco.py', '../_base_/alignment_pipelines_patch16.py']

# The official release file (its name carries a hash suffix: rename it or set this path);
# timm's model.safetensors loads too.
dinov3_checkpoint = 'checkpoints/dinov3_vitl16_pretrain_lvd1689m.pth'
model = dict(teacher=dict(arch='dinov3_vitl16', init_cfg=dict(checkpoint=dinov3_checkpoint)))
train_dataloader = dict(dataset=dict(pipeline={{_base_.patch16_train_pipeline}}))
val_dataloader = dict(dataset=dict(pipeline={{_base_.patch16_val_pipeline}}))
