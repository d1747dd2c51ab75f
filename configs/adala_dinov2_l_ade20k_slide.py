# configs/adala_dinov2_l_ade20k.py tested as MMSeg's and DINOv2's published ADE20K mIoUs are:
# 512x512 sliding windows, stride 341 (MMSeg's configs/vit/*_ade20k-512x512.py and
# configs/beit/*, DINOv2's ADE20K configs), over images resized to a 512 short side. Training
# is unchanged; the default (whole image) is faster and what high-resolution use needs.
# Run: tools/test.py configs/adala_dinov2_l_ade20k_slide.py CKPT
_base_ = ['./adala_dinov2_l_ade20k.py']

model = dict(test_cfg=dict(_delete_=True, mode='slide', crop_size=(512, 512), stride=(341, 341)))
