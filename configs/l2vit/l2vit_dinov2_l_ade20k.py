# L2ViT-style DINOv2-L, stage 3: the stage-2 backbone with UperNet on ADE20K, the same head and
# schedule as configs/adala_dinov2_l_ade20k.py.
# Run: tools/dist_train.sh configs/l2vit/l2vit_dinov2_l_ade20k.py 8
_base_ = ['../adala_dinov2_l_ade20k.py']

model = dict(backbone=dict(
    attn_type=['window', 'linear'] * 12, feature_map='relu', attn_cfg=dict(window_size=7, local_concentration=True),
    init_cfg=dict(checkpoint='work_dirs/l2vit_stage2_dinov2_l_in22k/backbone_final.pth')))
