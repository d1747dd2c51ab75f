# Stage 3 with Mask2Former: the stage-2 linear DINOv2-L, Feature2Pyramid and MMSeg's Mask2Former
# head on ADE20K; MMSeg's recipe (mask2former_r50_8xb2-160k_ade20k-512x512.py: 512x512 crops,
# 160k iterations, 16 images per step, 100 queries, 9 decoder layers) with our backbone, neck and
# optimiser (./_base_/models/mask2former_adala_vit_l.py). Needs mmdet: pip install "mmseg-adala[mask2former]".
# Run: tools/dist_train.sh configs/adala_dinov2_l_ade20k_mask2former_512.py 8
_base_ = ['mmseg::mask2former/mask2former_r50_8xb2-160k_ade20k-512x512.py',
          './_base_/models/mask2former_adala_vit_l.py']
# (mmdet.models, MMSeg's import here, is imported by AdaLAMask2Former, which names the fix if it is missing)
custom_imports = dict(imports=['mmseg_adala'], allow_failed_imports=False)

model = dict(
    type='AdaLAMask2Former',
    # mean/std: the arch's (AdaLAMask2Former); no padding to 32 px at test: the ViT resizes any
    # input to whole patches itself
    data_preprocessor=dict(mean=None, std=None, test_cfg=None),
    backbone={{_base_.m2f_backbone}},
    neck={{_base_.m2f_neck}},
    decode_head=dict(in_channels=[1024] * 4),
    test_cfg={{_base_.m2f_test_cfg}})
optim_wrapper = {{_base_.m2f_optim_wrapper}}
custom_hooks = [dict(type='EffectiveBatchHook')]
