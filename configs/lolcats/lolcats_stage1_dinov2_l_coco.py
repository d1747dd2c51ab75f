# LoLCATs baseline (Zhang et al., arXiv 2410.10254), stage 1: every DINOv2-L attention becomes
# LoLCATs' hybrid, softmax inside an 8x8 window (64 tokens, LoLCATs' window) plus Hedgehog
# linear attention over all other patches, mixed by a learned per-head factor, and is aligned
# to its softmax block by attention transfer (output MSE; LoLCATs also matches the attention
# weights). Paper: 61.6 ImageNet top-1, 17.42 ADE20K mIoU. There is no stage 2.
# Run: tools/dist_train.sh configs/lolcats/lolcats_stage1_dinov2_l_coco.py 8
_base_ = ['../adala_stage1_dinov2_l_coco.py']

model = dict(student_attn=dict(attn_type='window_linear', feature_map='hedgehog', window_size=8))
