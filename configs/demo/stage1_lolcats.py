# Demo baseline: LoLCATs (Zhang et al., arXiv 2410.10254) at toy scale, stage 1 as LoLCATs does it
# (configs/lolcats/lolcats_stage1_dinov2_l_coco.py at full scale): every attention becomes
# window softmax + Hedgehog linear attention over the other patches, and attention transfer
# trains only the feature maps and the window factors, at LoLCATs' lr 1e-2; the model's own
# weights stay frozen. The 2x2 window is a quarter of the 8x8 grid's side, as LoLCATs' 8x8
# window is about a fifth of DINOv2-L's 37x37.
_base_ = ['./stage1.py']

model = dict(
    student=dict(attn_type='window_linear', feature_map='hedgehog',
                 attn_cfg=dict(feature_map_cfg=dict(bias=False), window_size=2,
                               init_window_factor=-2.1972245773362196)),
    trainable=('feature_map.', 'key_map.', 'window_factor'))
optim_wrapper = dict(optimizer=dict(lr=1e-2))
