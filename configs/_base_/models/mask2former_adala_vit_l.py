# What MMSeg's Mask2Former configs (mmseg::mask2former/, made for ResNet and Swin) change for the
# stage-2 linear DINOv2-L. Variables, not a `model`: mmengine merges no two bases that both
# define one, so configs/*mask2former*.py put them into MMSeg's (`{{_base_.m2f_backbone}}`).
#
# Neck: MMSeg's Feature2Pyramid (BEiT's and MAE's neck for a plain ViT in MMSeg) on the blocks the
# UperNet configs read (6, 12, 18, 24): 2x2 deconvolutions to strides 3.5 and 7, the map itself at
# 14, 2x2 max pooling to 28, at the ViT's width. Chosen over ViTDet's simple pyramid (last block
# only, new code) and ViT-Adapter (a second network interleaved with the blocks, which stages 1
# and 2 know nothing of) because MMSeg has it, the Cityscapes UperNet and Mask2Former rows then
# differ only in the head, and each of its layers maps a tile to exactly the tile of its output,
# so whole-image inference tiles it with no halo (AdaLAMask2Former, test_cfg.head_tile).
m2f_backbone = dict(
    _delete_=True, type='AdaLAViT', arch='dinov2_vitl14', attn_type='linear', feature_map='elu',
    out_indices=(5, 11, 17, 23), final_norm=True, drop_path_rate=0.2,
    min_grid=2,  # the max pooling halves the grid
    init_cfg=dict(type='Pretrained', checkpoint='work_dirs/adala_stage2_dinov2_l_in22k/backbone_final.pth'))
m2f_neck = dict(type='Feature2Pyramid', embed_dim=1024, rescales=[4, 2, 1, 0.5],
                norm_cfg=dict(type='SyncBN', requires_grad=True))
# The backbone sees the whole image; the neck and head run in pieces that equal the whole
# (512-px tiles of the neck), so a 4096-px image holds no 1024-channel stride-3.5 map and no
# 100 masks at its resolution.
m2f_test_cfg = dict(mode='whole', head_tile=512)
# Optimiser: MMSeg's Mask2Former AdamW (weight decay 0.05, eps 1e-8, gradient norm clipped at
# 0.01, no decay on the queries and level embeddings), but with the plain-ViT fine-tuning rule
# of BEiT and ViT-Adapter in place of its flat 0.1 backbone multiplier: layer-wise decay 0.9
# over one base lr of 2e-5, and no decay on norms, biases, LayerScale, tokens and position
# embeddings (ViTLayerDecayOptimizerConstructor). mmengine's custom key 'backbone' would
# override that no-decay rule for every backbone tensor. bf16 mixed precision as every
# full-scale config here (README: --no-amp trains in float32, e.g. on CPU).
m2f_optim_wrapper = dict(
    _delete_=True, type='AmpOptimWrapper', dtype='bfloat16',
    optimizer=dict(type='AdamW', lr=2e-5, weight_decay=0.05, eps=1e-8, betas=(0.9, 0.999)),
    clip_grad=dict(max_norm=0.01, norm_type=2),
    constructor='ViTLayerDecayOptimizerConstructor',
    paramwise_cfg=dict(decay_rate=0.9, custom_keys={
        key: dict(decay_mult=0.0) for key in ('query_embed', 'query_feat', 'level_embed')}))
