"""AdaLAViT's logits stay on their pixels through MMSeg's EncoderDecoder, at sizes that are not
multiples of the patch size: in training (the loss's resize to the label), whole inference and
slide inference (tools/infer.py runs the same `test_step`).

The segmentor copies its input: 14x14 patch means, identity blocks, a 1x1 head passing the
channels through. A patch mean of a linear ramp is the ramp at the patch centre, and bilinear
resizing (align_corners=False) gives the ramp back from samples at the cell centres. So a
registered model returns the ramp itself, away from the borders (where resizing clamps);
a grid that reaches past the image (padding) shows as an error growing towards the far edges.
"""
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from tiny import TINY_VIT

import mmseg_adala  # noqa: F401  (registers AdaLAViT)

PATCH = 14
# Ramps in units of 1/256 px keep the logits small, as real logits are.
SCALE = 256.
# Bilinear resizing clamps within half a cell (at most 7 px) of a window's edges.
MARGIN = 7
TOLERANCE_PX = 0.02


def _copy_segmentor(test_cfg: dict):
    init_default_scope('mmseg')  # the segmentor builds its data preprocessor by name
    model = MODELS.build(dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', size_divisor=1),
        backbone=dict(type='AdaLAViT', arch='dinov2_vits14', vit_cfg=TINY_VIT, final_norm=False),
        decode_head=dict(type='FCNHead', in_channels=48, channels=48, num_convs=0, concat_input=False,
                         num_classes=3, dropout_ratio=0.0, align_corners=False),
        test_cfg=ConfigDict(test_cfg)))
    vit, head = model.backbone.vit, model.decode_head
    with torch.no_grad():
        for param in (vit.patch_embed.proj.weight, vit.patch_embed.proj.bias, vit.pos_embed,
                      head.conv_seg.weight, head.conv_seg.bias):
            param.zero_()
        for channel in range(3):
            vit.patch_embed.proj.weight[channel, channel] = 1 / PATCH ** 2
            head.conv_seg.weight[channel, channel] = 1
        for block in vit.blocks:
            block.ls1.gamma.zero_()
            block.ls2.gamma.zero_()
    return model.eval()


def _ramp(height: int, width: int) -> torch.Tensor:
    """(3, H, W): x and y of each pixel centre, and zeros."""
    y, x = torch.meshgrid(torch.arange(height) + 0.5, torch.arange(width) + 0.5, indexing='ij')
    return torch.stack([x, y, torch.zeros_like(x)]) / SCALE


def _sample(height: int, width: int) -> SegDataSample:
    sample = SegDataSample(metainfo=dict(img_shape=(height, width), ori_shape=(height, width)))
    sample.gt_sem_seg = PixelData(data=torch.zeros(1, height, width, dtype=torch.long))
    return sample


def _error_px(logits: torch.Tensor, window: tuple) -> float:
    """Largest distance, in pixels, between the copied ramp and the pixel coordinates, over the
    pixels at least MARGIN from the edges of the windows (`window` px, tiling the image)."""
    height, width = logits.shape[-2:]
    error = (logits[:2] - _ramp(height, width)[:2]).abs().amax(0) * SCALE
    rows = torch.arange(height) % window[0]
    columns = torch.arange(width) % window[1]
    inside = (((rows >= MARGIN) & (rows < window[0] - MARGIN))[:, None]
              & ((columns >= MARGIN) & (columns < window[1] - MARGIN))[None])
    return float(error[inside].max())


SIZES = [(75, 103), (100, 61), (129, 90)]


@pytest.mark.parametrize('size', SIZES)
def test_training_logits_are_registered_with_the_label(size):
    """What the loss compares with the label: the logits resized to it by the decode head."""
    model = _copy_segmentor(dict(mode='whole'))
    data = model.data_preprocessor(dict(inputs=[_ramp(*size)], data_samples=[_sample(*size)]), training=True)
    seen = []
    model.decode_head.loss_decode.register_forward_hook(lambda module, args, out: seen.append(args[0]))
    with torch.no_grad():
        model.loss(**data)
    assert seen[0].shape[-2:] == size
    assert _error_px(seen[0][0], size) < TOLERANCE_PX


@pytest.mark.parametrize('size', SIZES)
def test_whole_inference_is_registered(size):
    model = _copy_segmentor(dict(mode='whole'))
    result = model.test_step(dict(inputs=[_ramp(*size)], data_samples=[_sample(*size)]))[0]
    assert _error_px(result.seg_logits.data, size) < TOLERANCE_PX


@pytest.mark.parametrize('crop', [(45, 45), (40, 50)])
def test_slide_inference_is_registered(crop):
    """Windows that tile the image: each one registered makes the whole registered."""
    size = (2 * crop[0], 3 * crop[1])
    model = _copy_segmentor(dict(mode='slide', crop_size=crop, stride=crop))
    result = model.test_step(dict(inputs=[_ramp(*size)], data_samples=[_sample(*size)]))[0]
    assert _error_px(result.seg_logits.data, crop) < TOLERANCE_PX
