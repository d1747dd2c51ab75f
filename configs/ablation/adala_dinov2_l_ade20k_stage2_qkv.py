# Stage-3 ablation row "stages 1+2, stage 2 training Q/K/V only": paper 48.82 ADE20K mIoU, against
# 55.55 for stages 1+2 (configs/adala_dinov2_l_ade20k.py) and 56.73 for the softmax teacher.
# Same UperNet and schedule; only the backbone's weights differ. They come from: configs/ablation/adala_stage2_qkv_dinov2_l_in22k.py
# Run: tools/dist_train.sh configs/ablation/adala_dinov2_l_ade20k_stage2_qkv.py 8
_base_ = ['../adala_dinov2_l_ade20k.py']

model = dict(backbone=dict(init_cfg=dict(checkpoint='work_dirs/adala_stage2_qkv_dinov2_l_in22k/backbone_final.pth')))
