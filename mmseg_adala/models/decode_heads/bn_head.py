"""DINOv2's linear segmentation head: BatchNorm and a 1x1 convolution on the ViT features."""
from typing import List

import torch
from mmcv.cnn import build_norm_layer
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS


@MODELS.register_module()
class BNHead(BaseDecodeHead):
    """A linear classifier of each patch, as in DINOv2's linear evaluation.

    The selected block outputs are resized to the first one's grid and concatenated
    (`input_transform='resize_concat'`); BatchNorm puts the channels of different blocks on
    one scale before the 1x1 classifier. No convolution mixes neighbouring patches, so the
    mIoU measures the backbone's features themselves.
    """

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault('input_transform', 'resize_concat')
        super().__init__(**kwargs)
        if self.channels != self.in_channels:
            raise ValueError(f'BNHead classifies the features directly: channels ({self.channels}) must equal '
                             f'the concatenated in_channels ({self.in_channels})')
        self.bn = build_norm_layer(self.norm_cfg or dict(type='BN'), self.in_channels)[1]

    def forward(self, inputs: List[torch.Tensor]) -> torch.Tensor:
        return self.cls_seg(self.bn(self._transform_inputs(inputs)))
