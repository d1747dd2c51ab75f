# Stage 1 for Google's SigLIP ViT-L/16 (256 px, WebLI): ../adala_stage1_dinov2_l_coco.py with
# another teacher, on 512-px crops (32x32 patches of 16 px). Its mean/std come with the arch.
# SigLIP has no class token: stage 2 aligns the patch tokens; its attention-pooling head
# is not part of the backbone.
# Run: tools/dist_train.sh configs/siglip_l/adala_stage1_siglip_l_coco.py 8
_base_ = ['../adala_stage1_dinov2_l_coco.py', '../_base_/alignment_pipelines_patch16.py']

# timm's model.safetensors (hf-hub timm/vit_large_patch16_siglip_256.webli); open_clip's
# open_clip_pytorch_model.bin loads too.
siglip_checkpoint = 'checkpoints/vit_large_patch16_siglip_256.webli.safetensors'
model = dict(teacher=dict(arch='siglip_vitl16', init_cfg=dict(checkpoint=siglip_checkpoint)))
train_dataloader = dict(dataset=dict(pipeline={{_base_.patch16_train_pipeline}}))
val_dataloader = dict(dataset=dict(pipeline={{_base_.patch16_val_pipeline}}))
