"""Label maps at the image's resolution from head-resolution logits, band by band.

MMSeg resizes the decode head's logits to the padded input, crops the padding, undoes a flip,
resizes to the original image and only then takes the argmax: at 4096 px and 150 classes each
of those maps is 10 GB. Here both resizes along the rows are one composed matrix (bilinear
resizes are linear maps), applied to the few head rows that a band of output rows reads, and
the columns are resized by MMSeg's own calls within the band; only the band is ever at full
resolution.
"""
from typing import Optional, Tuple, Union

import torch
from mmseg.models.utils import resize
from torch import Tensor

from .halo_crops import resize_matrix, span

BAND_BYTES = 2 ** 27  # per full-resolution float map of one band; a few are alive at once


class RowSource:
    """(C, h, w) logits computed a band of rows at a time, for logits that are not a linear map of
    a smaller tensor (Mask2Former's: class scores times sigmoids of resized masks).

    Attributes:
        shape: (C, h, w); dtype, device: those of the rows.
        band_channels: channels of the widest map that computing a band holds (the band's size
            is chosen so that one such map fits BAND_BYTES).
    """
    shape: Tuple[int, int, int]
    dtype: torch.dtype
    device: torch.device
    band_channels: int

    def rows(self, top: int, bottom: int) -> Tensor:
        """Rows [top, bottom) of the logits, (C, bottom - top, w)."""
        raise NotImplementedError


class ResizeChain:
    """The map from head logits to the image along one axis: resize to `padded`, crop
    `padding` = (before, after), flip if asked, resize to `size` (None: stop after the crop)."""

    def __init__(self, padded: int, padding: Tuple[int, int] = (0, 0), flip: bool = False,
                 size: Optional[int] = None, align_corners: bool = False) -> None:
        self.padded, self.padding, self.flip, self.size = padded, padding, flip, size
        self.align_corners = align_corners

    @property
    def out_size(self) -> int:
        return self.size if self.size is not None else self.padded - sum(self.padding)

    def matrix(self, in_size: int) -> Tensor:
        """The (out, in) matrix of the whole chain."""
        m = resize_matrix(in_size, self.padded, align_corners=self.align_corners)
        m = m[self.padding[0]:self.padded - self.padding[1]]
        if self.flip:
            m = m.flip(0)
        if self.size is not None:
            m = resize_matrix(m.shape[0], self.size, align_corners=self.align_corners) @ m
        return m

    def apply_last_axis(self, x: Tensor) -> Tensor:
        """The chain along the last axis of (C, rows, W) `x`, with MMSeg's `resize` calls."""
        rows = x.shape[1]
        x = resize(x[None], size=(rows, self.padded), mode='bilinear', align_corners=self.align_corners)[0]
        x = x[..., self.padding[0]:self.padded - self.padding[1]]
        if self.flip:
            x = x.flip(-1)
        if self.size is not None:
            x = resize(x[None], size=(rows, self.size), mode='bilinear', align_corners=self.align_corners)[0]
        return x


@torch.no_grad()
def banded_argmax(logits: Union[Tensor, RowSource], rows: ResizeChain, cols: ResizeChain,
                  keep_logits: bool = False) -> Tuple[Tensor, Optional[Tensor]]:
    """(1, H, W) class ids of (C, h, w) head `logits` mapped to the image by `rows` and `cols`,
    and the (C, H, W) image-resolution logits if `keep_logits` (MMSeg's `seg_logits`)."""
    classes = logits.shape[0]
    height, width = rows.out_size, cols.out_size
    row_matrix = rows.matrix(logits.shape[1])  # on the host: the rows each band reads
    row_weights = row_matrix.to(device=logits.device, dtype=logits.dtype)  # on the device, once for all bands
    read = logits.rows if isinstance(logits, RowSource) else lambda top, bottom: logits[:, top:bottom]
    labels = torch.empty(1, height, width, dtype=torch.long, device=logits.device)
    kept = torch.empty(classes, height, width, dtype=logits.dtype, device=logits.device) if keep_logits else None
    channels = max(classes, getattr(logits, 'band_channels', classes))
    element_size = torch.finfo(logits.dtype).bits // 8
    band = max(1, BAND_BYTES // (channels * max(width, cols.padded) * element_size))
    for top in range(0, height, band):
        out = (top, min(top + band, height))
        src = span(row_matrix, out)
        weights = row_weights[out[0]:out[1], src[0]:src[1]]
        x = cols.apply_last_axis(torch.matmul(weights, read(*src)))
        labels[0, out[0]:out[1]] = x.argmax(0)
        if kept is not None:
            kept[:, out[0]:out[1]] = x
    return labels, kept
