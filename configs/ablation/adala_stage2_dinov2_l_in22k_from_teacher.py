# Ablation "stage 2 only" (paper: 52.46 ADE20K mIoU against 55.55 with both stages): stage 2
# whose linear student starts from the official DINOv2-L weights instead of stage 1's export.
# Run: tools/dist_train.sh configs/ablation/adala_stage2_dinov2_l_in22k_from_teacher.py 8
_base_ = ['../adala_stage2_dinov2_l_in22k.py']

model = dict(student=dict(init_cfg=dict(checkpoint='checkpoints/dinov2_vitl14_pretrain.pth')))
