# Demo baseline: an L2ViT-style ViT (Zheng, arXiv 2501.16182) at toy scale, stage 1, as
# configs/l2vit/l2vit_stage1_dinov2_l_coco.py at full scale: blocks alternate softmax in 2x2
# windows (even blocks) and ReLU linear attention with the local concentration module (odd).
_base_ = ['./stage1.py']

model = dict(student=dict(
    attn_type=['window', 'linear'] * 3, feature_map='relu', attn_cfg=dict(window_size=2, local_concentration=True)))
