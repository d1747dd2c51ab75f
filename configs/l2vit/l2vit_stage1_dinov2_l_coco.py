# L2ViT-style DINOv2-L (Zheng, arXiv 2501.16182), stage 1: blocks alternate L2ViT's local
# window attention (softmax in 7x7 windows; even blocks) and its enhanced linear global
# attention (ReLU map + local concentration module; odd blocks). Every block is aligned to its
# softmax block; the window blocks train Q/K/V only, the linear ones also the module.
# Run: tools/dist_train.sh configs/l2vit/l2vit_stage1_dinov2_l_coco.py 8
_base_ = ['../adala_stage1_dinov2_l_coco.py']

model = dict(student=dict(
    attn_type=['window', 'linear'] * 12, feature_map='relu', attn_cfg=dict(window_size=7, local_concentration=True)))
