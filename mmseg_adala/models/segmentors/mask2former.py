"""`AdaLAMask2Former`: Mask2Former on a whole-image AdaLAViT, its head in bounded memory."""
import math
from typing import List, Optional, Sequence

import torch
from mmengine.structures import PixelData
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import OptSampleList, SampleList
from torch import Tensor

from .encoder_decoder import AdaLAEncoderDecoder
from .label_maps import banded_argmax


@MODELS.register_module()
class AdaLAMask2Former(AdaLAEncoderDecoder):
    """An AdaLAViT, Feature2Pyramid and MMSeg's Mask2FormerHead (mmdet's pixel decoder and
    transformer decoder), trained as MMSeg's EncoderDecoder trains them.

    Whole-image inference runs the backbone on the whole image. With `test_cfg.head_tile` the
    neck and head are computed in pieces that equal the whole (`bounded_mask2former.py`), so a
    4096-px image never holds the 1024-channel stride-3.5 map nor 100 masks at the image's
    resolution; without it, MMSeg's `Mask2FormerHead.predict` runs on the whole map. Either
    way the logits go to the image in bands (`banded_argmax`). Slide mode is MMSeg's
    (see `encode_decode`).

    `test_cfg` keys: those of `AdaLAEncoderDecoder` (`head_tile` in input pixels: the neck's
    tile; `keep_logits`).
    """

    def __init__(self, **kwargs) -> None:
        try:
            import mmdet.models  # noqa: F401  (registers the pixel decoder, losses and matcher the head builds)
        except ModuleNotFoundError as error:
            raise ModuleNotFoundError(
                f'{type(self).__name__}: Mask2Former needs mmdet ({error}); install it with '
                '`pip install "mmseg-adala[mask2former]"` (tools/setup_env.sh does)') from error
        super().__init__(**kwargs)

    def encode_decode(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        """MMSeg's, at the size of `inputs`: Mask2FormerHead.predict resizes its masks to the meta's
        `pad_shape`, which in slide mode is the whole image's, not the window's (MMSeg then fails
        to add the window's logits)."""
        metas = [dict(meta, pad_shape=tuple(inputs.shape[2:])) for meta in batch_img_metas]
        return EncoderDecoder.encode_decode(self, inputs, metas)

    def head_logits(self, feats: Sequence[Tensor], image_height: int, head_tile: Optional[int] = None) -> Tensor:
        """(B, C, H, W) class logits at the input's size from backbone features: MMSeg's head, or
        the bounded one with `head_tile`-px neck tiles. The width follows from the grid's aspect
        (exact for the square images of tools/check_head_tiling.py)."""
        size = (image_height, round(image_height * feats[0].shape[3] / feats[0].shape[2]))
        logits = []
        for i in range(len(feats[0])):
            image = self._image_logits([f[i:i + 1] for f in feats], dict(img_shape=size), head_tile)
            logits.append(image.all_rows() if head_tile else image)
        return torch.stack(logits)

    def _image_logits(self, feats: List[Tensor], meta: dict, head_tile: Optional[int]):
        """One image's logits at its padded size: a tensor (MMSeg's head) or, with `head_tile`,
        a `MaskLogitRows` computed band by band. `feats` is consumed."""
        size = tuple(meta.get('pad_shape', meta['img_shape'])[:2])
        if not head_tile:
            return self.decode_head.predict(self.neck(feats), [dict(meta, pad_shape=size)], self.test_cfg)[0]
        from .bounded_mask2former import bounded_mask2former, supports_bounded_mask2former
        if not supports_bounded_mask2former(self.neck, self.decode_head):
            raise ValueError(f'head_tile: no bounded version of {type(self.neck).__name__} + '
                             f'{type(self.decode_head).__name__}; set model.test_cfg.head_tile=None')
        stride = size[0] / feats[0].shape[2]  # input pixels per patch, after the backbone's resize
        grid_tile = max(2, 2 * math.floor(head_tile / stride / 2))  # even: the 0.5 level's max pooling
        return bounded_mask2former(self.neck, self.decode_head, feats, grid_tile, size)

    def predict(self, inputs: Tensor, data_samples: OptSampleList = None) -> SampleList:
        if self.test_cfg.get('mode', 'whole') != 'whole':
            return EncoderDecoder.predict(self, inputs, data_samples)
        feats = list(self.backbone(inputs))
        samples = data_samples if data_samples is not None else [SegDataSample() for _ in inputs]
        for i, sample in enumerate(samples):
            meta = sample.metainfo if data_samples is not None else dict(img_shape=tuple(inputs.shape[2:]))
            image_feats = [f[i:i + 1] for f in feats]
            if len(samples) == 1:
                feats = None  # the bounded head frees each map once it is used
            logits = self._image_logits(image_feats, meta, self.test_cfg.get('head_tile'))
            rows, cols = self._resize_chains(inputs, meta if data_samples is not None else None)
            labels, kept = banded_argmax(logits, rows, cols, self.test_cfg.get('keep_logits', False))
            sample.set_data(dict(pred_sem_seg=PixelData(data=labels)))
            if kept is not None:
                sample.set_data(dict(seg_logits=PixelData(data=kept)))
        return samples
