# LoLCATs baseline (Zhang et al., arXiv 2410.10254), stage 1: every DINOv2-L attention becomes
# LoLCATs' hybrid, softmax inside an 8x8 window (64 tokens, LoLCATs' window) plus Hedgehog
# linear attention over all other patches, mixed by a learned per-head factor, and is aligned
# to its softmax block by LoLCATs' attention transfer: output MSE, the model's own weights
# frozen (LoLCATs' load_and_convert_attns), only the feature maps and window factors trained,
# AdamW at lr 1e-2 without weight decay (its distill_*_xent0_mse1000_lr1e-2 configs). As in its
# main configs: bias-free d x d feature maps (feature_dim 64 = DINOv2-L's head_dim) and the
# window weight starting at sigmoid(-2.197) = 0.1. Paper: 61.6 ImageNet top-1, 17.42 ADE20K
# mIoU. There is no stage 2.
# Run: tools/dist_train.sh configs/lolcats/lolcats_stage1_dinov2_l_coco.py 8
_base_ = ['../adala_stage1_dinov2_l_coco.py']

model = dict(
    student=dict(attn_type='window_linear', feature_map='hedgehog',
                 attn_cfg=dict(feature_map_cfg=dict(bias=False), window_size=8,
                               init_window_factor=-2.1972245773362196)),
    trainable=('feature_map.', 'key_map.', 'window_factor'))
optim_wrapper = dict(optimizer=dict(lr=1e-2, weight_decay=0.0))
