# Stage-3 ablation row "no alignment: linear attention straight on the official DINOv2-L weights": paper 22.92 ADE20K mIoU, against
# 55.55 for stages 1+2 (configs/adala_dinov2_l_ade20k.py) and 56.73 for the softmax teacher.
# Same UperNet and schedule; only the backbone's weights differ. They come from: (none: the DINOv2-L release file)
# Run: tools/dist_train.sh configs/ablation/adala_dinov2_l_ade20k_no_alignment.py 8
_base_ = ['../adala_dinov2_l_ade20k.py']

model = dict(backbone=dict(init_cfg=dict(checkpoint='checkpoints/dinov2_vitl14_pretrain.pth')))
