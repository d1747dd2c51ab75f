"""The tiled neck + UPerHead equals MMSeg's whole-map forward on every pixel."""
import pytest
import torch
from mmseg.registry import MODELS
from mmseg.utils import register_all_modules

from mmseg_adala.models.segmentors.tiled_upernet import tiled_upernet_logits

register_all_modules()


def make_neck_and_head(num_inputs: int, seed: int = 0):
    """A small ViT UperNet neck and head with random weights and BN statistics, in eval mode."""
    torch.manual_seed(seed)
    neck = MODELS.build(dict(type='MultiLevelNeck', in_channels=[8] * num_inputs, out_channels=8,
                             scales=[4, 2, 1, 0.5]))
    head = MODELS.build(dict(type='UPerHead', in_channels=[8] * 4, in_index=[0, 1, 2, 3], pool_scales=(1, 2, 3, 6),
                             channels=6, num_classes=5, norm_cfg=dict(type='BN'), align_corners=False))
    for module in head.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2)
            module.weight.data.normal_()
    return neck.eval(), head.eval()


@pytest.mark.parametrize('num_inputs', [4, 1])
@pytest.mark.parametrize('height,width', [(7, 7), (9, 6), (10, 13), (2, 3)])
# Tile 1 (a tile per pixel) is the slowest by far: slow.
@pytest.mark.parametrize('tile', [pytest.param(1, marks=pytest.mark.slow), 5, 16, 1000])
def test_tiles_equal_the_whole_map(num_inputs, height, width, tile):
    neck, head = make_neck_and_head(num_inputs)
    feats = [torch.randn(2, 8, height, width) for _ in range(num_inputs)]
    with torch.no_grad():
        expected = head(neck(feats))
    tiled = tiled_upernet_logits(neck, head, feats, tile)
    assert tiled.shape == expected.shape
    torch.testing.assert_close(tiled, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())
    assert torch.equal(tiled.argmax(1), expected.argmax(1))
