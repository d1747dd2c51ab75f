# Stage 1 for the supervised ImageNet ViT-L/16 of the paper's generality table (AugReg's,
# ImageNet-21K then ImageNet-1K, 224 px): ../adala_stage1_dinov2_l_coco.py with this teacher, on
# 512-px crops (32x32 patches of 16 px). Its mean/std (0.5) come with the arch.
# Run: tools/dist_train.sh configs/in1k_l/adala_stage1_in1k_l_coco.py 8
_base_ = ['../adala_stage1_dinov2_l_coco.py', '../_base_/alignment_pipelines_patch16.py']

# timm's model.safetensors (hf-hub timm/vit_large_patch16_224.augreg_in21k_ft_in1k)
in1k_checkpoint = 'checkpoints/vit_large_patch16_224.augreg_in21k_ft_in1k.safetensors'
model = dict(teacher=dict(arch='in1k_vitl16', init_cfg=dict(checkpoint=in1k_checkpoint)))
train_dataloader = dict(dataset=dict(pipeline={{_base_.patch16_train_pipeline}}))
val_dataloader = dict(dataset=dict(pipeline={{_base_.patch16_val_pipeline}}))
