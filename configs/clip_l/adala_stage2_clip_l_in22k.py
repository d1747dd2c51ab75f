# Stage 2 for OpenAI's CLIP ViT-L/14: ../adala_stage2_dinov2_l_in22k.py with CLIP as teacher,
# the student starting from the CLIP stage-1 export.
# Run: tools/dist_train.sh configs/clip_l/adala_stage2_clip_l_in22k.py 8
_base_ = ['../adala_stage2_dinov2_l_in22k.py']

clip_checkpoint = 'checkpoints/ViT-L-14.pt'
stage1_export = 'work_dirs/adala_stage1_clip_l_coco/backbone_final.pth'
model = dict(
    teacher=dict(arch='clip_vitl14', init_cfg=dict(checkpoint=clip_checkpoint)),
    student=dict(init_cfg=dict(checkpoint=stage1_export)))
