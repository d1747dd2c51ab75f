# Stage-3 ablation row "stage 1 only, no stage 2": paper 19.37 ADE20K mIoU, against
# 55.55 for stages 1+2 (configs/adala_dinov2_l_ade20k.py) and 56.73 for the softmax teacher.
# Same UperNet and schedule; only the backbone's weights differ. They come from: configs/adala_stage1_dinov2_l_coco.py
# Run: tools/dist_train.sh configs/ablation/adala_dinov2_l_ade20k_stage1_only.py 8
_base_ = ['../adala_dinov2_l_ade20k.py']

model = dict(backbone=dict(init_cfg=dict(checkpoint='work_dirs/adala_stage1_dinov2_l_coco/backbone_final.pth')))
