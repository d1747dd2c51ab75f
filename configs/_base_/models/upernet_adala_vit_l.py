# UperNet on a linear-attention DINOv2-L. The ViT has one stride (14); MMSeg's MultiLevelNeck
# resamples four of its blocks to the strides 3.5, 7, 14, 28 that UperNet expects.
norm_cfg = dict(type='SyncBN', requires_grad=True)
# mean/std are left out: AdaLAEncoderDecoder fills in the backbone arch's own normalisation.
data_preprocessor = dict(type='SegDataPreProcessor', bgr_to_rgb=True, pad_val=0, seg_pad_val=255)
model = dict(
    type='AdaLAEncoderDecoder',
    data_preprocessor=data_preprocessor,
    # min_grid=2: the neck's 0.5 scale halves the patch grid, so inputs need 2 patches per side.
    backbone=dict(type='AdaLAViT', arch='dinov2_vitl14', attn_type='linear', feature_map='elu',
                  out_indices=(5, 11, 17, 23), final_norm=True, drop_path_rate=0.2, min_grid=2),
    neck=dict(type='MultiLevelNeck', in_channels=[1024] * 4, out_channels=1024, scales=[4, 2, 1, 0.5]),
    decode_head=dict(
        type='UPerHead', in_channels=[1024] * 4, in_index=[0, 1, 2, 3], pool_scales=(1, 2, 3, 6),
        channels=512, dropout_ratio=0.1, num_classes=150, norm_cfg=norm_cfg, align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    # The auxiliary FCN head on the last block, as MMSeg's ViT UperNet
    # (_base_/models/upernet_vit-b16_ln_mln.py: in_index=3 of out_indices (2, 5, 8, 11)).
    auxiliary_head=dict(
        type='FCNHead', in_channels=1024, in_index=3, channels=256, num_convs=1, concat_input=False,
        dropout_ratio=0.1, num_classes=150, norm_cfg=norm_cfg, align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
    train_cfg=dict(),
    # The backbone sees the whole image; neck and head run in 512-px tiles (exact: halos cover
    # every convolution and resize) and the labels are mapped to the image in bands, so a
    # 4096-px image needs no 150-class map at full resolution (AdaLAEncoderDecoder).
    test_cfg=dict(mode='whole', head_tile=512))
