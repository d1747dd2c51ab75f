# L2ViT-style DINOv2-L, stage 2: feature alignment of the whole network from the stage-1 export,
# with the schedule of configs/adala_stage2_dinov2_l_in22k.py.
# Run: tools/dist_train.sh configs/l2vit/l2vit_stage2_dinov2_l_in22k.py 8
_base_ = ['../adala_stage2_dinov2_l_in22k.py']

model = dict(student=dict(
    attn_type=['window', 'linear'] * 12, feature_map='relu', attn_cfg=dict(window_size=7, local_concentration=True),
    init_cfg=dict(checkpoint='work_dirs/l2vit_stage1_dinov2_l_coco/backbone_final.pth')))
