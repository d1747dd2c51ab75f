# Ablation "stage 2 tunes Q/K/V only" (paper: 76.4 ImageNet top-1, 48.82 ADE20K mIoU against
# 55.55 when stage 2 trains the whole network): stage 2 from stage 1's export, with only the
# attentions' fused QKV projections trained.
# Run: tools/dist_train.sh configs/ablation/adala_stage2_qkv_dinov2_l_in22k.py 8
_base_ = ['../adala_stage2_dinov2_l_in22k.py']

model = dict(trainable=('.attn.qkv.',))
