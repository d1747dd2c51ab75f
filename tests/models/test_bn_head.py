import pytest
import torch
import torch.nn.functional as F

import mmseg_adala  # noqa: F401
from mmseg_adala.models import BNHead


def test_bn_head_is_batchnorm_then_a_linear_classifier():
    head = BNHead(in_channels=[8, 8], in_index=[0, 1], channels=16, num_classes=3,
                  dropout_ratio=0.0, norm_cfg=dict(type='BN')).eval()
    torch.nn.init.normal_(head.bn.running_mean)
    inputs = [torch.randn(2, 8, 6, 6), torch.randn(2, 8, 3, 3)]
    # Reference: upsample the coarser map, concatenate, BatchNorm (eval), 1x1 conv.
    x = torch.cat([inputs[0], F.interpolate(inputs[1], size=(6, 6), mode='bilinear', align_corners=False)], 1)
    expected = head.conv_seg(head.bn(x))
    torch.testing.assert_close(head(inputs), expected)


def test_bn_head_rejects_a_bottleneck():
    with pytest.raises(ValueError, match='channels'):
        BNHead(in_channels=[8, 8], in_index=[0, 1], channels=4, num_classes=3)
