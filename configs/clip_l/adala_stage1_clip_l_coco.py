# Stage 1 for OpenAI's CLIP ViT-L/14 (QuickGELU): ../adala_stage1_dinov2_l_coco.py with another
# teacher. Same patch size, so the same 518-px crops; CLIP's mean/std come with the arch.
# Run: tools/dist_train.sh configs/clip_l/adala_stage1_clip_l_coco.py 8
_base_ = ['../adala_stage1_dinov2_l_coco.py']

# OpenAI's release file (TorchScript); open_clip/timm files load too
clip_checkpoint = 'checkpoints/ViT-L-14.pt'
model = dict(teacher=dict(arch='clip_vitl14', init_cfg=dict(checkpoint=clip_checkpoint)))
