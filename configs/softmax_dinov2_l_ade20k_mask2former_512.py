# Baseline: the softmax teacher itself (official DINOv2-L weights) with Mask2Former on ADE20K,
# trained exactly like configs/adala_dinov2_l_ade20k_mask2former_512.py.
_base_ = ['./adala_dinov2_l_ade20k_mask2former_512.py']

model = dict(backbone=dict(attn_type='softmax',
                           init_cfg=dict(checkpoint='checkpoints/dinov2_vitl14_pretrain.pth')))
