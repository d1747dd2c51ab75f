"""`AdaLAEncoderDecoder`: MMSeg's EncoderDecoder with a global backbone and a memory-bounded head."""
import math
from typing import List, Optional, Sequence

import torch
from mmengine.structures import PixelData
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import OptSampleList, SampleList
from torch import Tensor

from ..backbones import with_backbone_normalisation
from .label_maps import ResizeChain, banded_argmax
from .tiled_upernet import supports_tiling, tiled_upernet_logits


@MODELS.register_module()
class AdaLAEncoderDecoder(EncoderDecoder):
    """Whole-image inference that holds no full-resolution map it does not need.

    The backbone sees the whole image (global attention, the point of a linear-attention ViT);
    a MultiLevelNeck + UPerHead is then computed in tiles whose halos make every pixel equal
    the untiled result (`tiled_upernet.py`), and the logits are mapped to the image and
    argmaxed band by band (`label_maps.py`). A head without a neck, such as the linear BNHead,
    is pointwise on the patch grid: its logits are small and only the mapping to the image is
    banded. Weights and training are EncoderDecoder's. An AdaLAViT backbone brings its input
    normalisation: the data preprocessor's mean/std default to its arch's.

    `test_cfg` keys besides MMSeg's `mode`, `crop_size`, `stride`:
        head_tile (int, optional): tile side, in input pixels, of the neck and head (whole and
            slide modes). None: untiled.
        keep_logits (bool): whole mode: also store `seg_logits` at the image's resolution as
            MMSeg does (classes x H x W floats: 10 GB at 4096 px and 150 classes), e.g. for
            test-time augmentation, which averages them. Default False: `pred_sem_seg` only.
    """

    def __init__(self, backbone: dict, data_preprocessor: Optional[dict] = None, **kwargs) -> None:
        super().__init__(backbone=backbone, data_preprocessor=with_backbone_normalisation(data_preprocessor, backbone),
                         **kwargs)

    def decode_logits(self, inputs: Tensor) -> Tensor:
        """The decode head's logits, at its own resolution, for a batch of images."""
        # extract_feat would apply the neck to the whole map
        return self.head_logits(self.backbone(inputs), inputs.shape[2], self.test_cfg.get('head_tile'))

    def head_logits(self, feats: Sequence[Tensor], image_height: int, head_tile: Optional[int] = None) -> Tensor:
        """The neck and decode head on backbone features: in `head_tile`-px tiles, or whole (None)."""
        if head_tile and self.with_neck and supports_tiling(self.neck, self.decode_head):
            stride = image_height / (feats[0].shape[2] * self.neck.scales[0])
            return tiled_upernet_logits(self.neck, self.decode_head, feats, max(1, math.floor(head_tile / stride)))
        if head_tile and self.with_neck:
            raise ValueError(f'head_tile: no tiled version of {type(self.neck).__name__} + '
                             f'{type(self.decode_head).__name__}')
        return self.decode_head(self.neck(feats) if self.with_neck else feats)

    def encode_decode(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        return self.decode_head.predict_by_feat(self.decode_logits(inputs), batch_img_metas)

    def predict(self, inputs: Tensor, data_samples: OptSampleList = None) -> SampleList:
        if self.test_cfg.get('mode', 'whole') != 'whole':
            return super().predict(inputs, data_samples)
        logits = self.decode_logits(inputs)
        if logits.shape[1] == 1:  # a sigmoid head: MMSeg's thresholding
            metas = [s.metainfo for s in data_samples] if data_samples is not None else None
            return super().postprocess_result(self.decode_head.predict_by_feat(
                logits, metas or [dict(img_shape=inputs.shape[2:])] * len(inputs)), data_samples)
        samples = data_samples if data_samples is not None else [SegDataSample() for _ in inputs]
        for i, sample in enumerate(samples):
            rows, cols = self._resize_chains(inputs, sample.metainfo if data_samples is not None else None)
            labels, kept = banded_argmax(logits[i], rows, cols, self.test_cfg.get('keep_logits', False))
            sample.set_data(dict(pred_sem_seg=PixelData(data=labels)))
            if kept is not None:
                sample.set_data(dict(seg_logits=PixelData(data=kept)))
        return samples

    def _resize_chains(self, inputs: Tensor, meta: Optional[dict]):
        """The (rows, cols) chains of EncoderDecoder.predict: the decode head's `predict_by_feat`
        resize (to `pad_shape` if the meta has one, else `img_shape`), then
        `postprocess_result`'s padding crop, flip and resize to `ori_shape` (no meta: none of these)."""
        corners = self.align_corners
        if meta is None:
            return (ResizeChain(inputs.shape[2], align_corners=corners),
                    ResizeChain(inputs.shape[3], align_corners=corners))
        padded = meta['pad_shape'][:2] if 'pad_shape' in meta else meta['img_shape']
        left, right, top, bottom = meta.get('img_padding_size', meta.get('padding_size', [0] * 4))
        flip = meta.get('flip_direction') if meta.get('flip') else None
        height, width = meta['ori_shape'][:2]
        return (ResizeChain(padded[0], (top, bottom), flip == 'vertical', height, corners),
                ResizeChain(padded[1], (left, right), flip == 'horizontal', width, corners))
