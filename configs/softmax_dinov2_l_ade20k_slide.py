# The softmax baseline (configs/softmax_dinov2_l_ade20k.py) tested in 512x512 sliding windows,
# as configs/adala_dinov2_l_ade20k_slide.py tests the linear model.
_base_ = ['./softmax_dinov2_l_ade20k.py']

model = dict(test_cfg=dict(_delete_=True, mode='slide', crop_size=(512, 512), stride=(341, 341)))
