# LoLCATs baseline, stage 3: the stage-1 hybrid backbone (no stage 2) with UperNet on ADE20K,
# the same head and schedule as configs/adala_dinov2_l_ade20k.py. Paper: 17.42 mIoU.
# Weights from configs/lolcats/lolcats_stage1_dinov2_l_coco.py.
# Run: tools/dist_train.sh configs/lolcats/lolcats_dinov2_l_ade20k.py 8
_base_ = ['../adala_dinov2_l_ade20k.py']

model = dict(backbone=dict(
    attn_type='window_linear', feature_map='hedgehog', attn_cfg=dict(window_size=8, feature_map_cfg=dict(bias=False)),
    init_cfg=dict(checkpoint='work_dirs/lolcats_stage1_dinov2_l_coco/backbone_final.pth')))
