"""Exact crops of a feature map: convolutions and bilinear resizes computed on a crop and its halo.

A 3x3 convolution's output row depends on 3 input rows, a bilinear resize's on at most 2; so
any crop of a network of such layers can be computed from a slightly larger crop of its
input (its halo) and equal the whole map's values there. The resizes are the subtle part: a
resize of a crop is not the crop of a resize (`F.interpolate` maps coordinates from the sizes it
is given), so a crop is resized with the rows and columns of the whole map's interpolation
matrix, which `F.interpolate` itself produces from an identity image. The matrices are
built on the host, where the intervals are read off them without waiting for the device, and
copied to the device once per image (`ResizeMatrix`), not once per tile.
"""
from functools import lru_cache
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

Interval = Tuple[int, int]  # [start, stop) along one axis, in the whole map's coordinates


@lru_cache(maxsize=64)
def resize_matrix(in_size: int, out_size: Optional[int] = None, scale: Optional[float] = None,
                  align_corners: bool = False) -> Tensor:
    """The (out, in) matrix of `F.interpolate(mode='bilinear')` along one axis.

    Bilinear interpolation is separable, so a 2D resize is `R_h @ x @ R_w.T`. Given `size`,
    PyTorch maps coordinates with in/out; given `scale_factor`, with 1/scale: pass what the
    module passes. The other axis of the identity image keeps its size (an exact identity).
    """
    eye = torch.eye(in_size, dtype=torch.float64, device='cpu')[None, None]
    if out_size is not None:
        out = F.interpolate(eye, size=(out_size, in_size), mode='bilinear', align_corners=align_corners)
    else:
        out = F.interpolate(eye, scale_factor=(scale, 1.0), mode='bilinear', align_corners=align_corners)
    return out[0, 0]


class ResizeMatrix:
    """A resize matrix on the host (`exact`: float64, for the intervals) and on the device of
    the maps it resizes (`applied`: in their dtype, for the matmuls of every tile)."""

    def __init__(self, exact: Tensor, like: Tensor) -> None:
        self.exact = exact
        self.applied = exact.to(like)


def grow(interval: Interval, size: int, halo: int = 1) -> Interval:
    """The input interval a (2 * halo + 1)-tap zero-padded convolution reads for `interval`."""
    return max(interval[0] - halo, 0), min(interval[1] + halo, size)


def span(matrix: Tensor, interval: Interval) -> Interval:
    """The input interval that the output rows `interval` of a resize matrix read."""
    columns = matrix[interval[0]:interval[1]].ne(0).any(0).nonzero()
    return int(columns[0]), int(columns[-1]) + 1


def hull(*intervals: Interval) -> Interval:
    """The smallest interval covering all of `intervals` (a map read by two consumers)."""
    return min(i[0] for i in intervals), max(i[1] for i in intervals)


class Crop:
    """A crop `data` of an (N, C, H, W) map, whose rows and columns are `rows` and `cols` of the map."""

    def __init__(self, data: Tensor, rows: Interval, cols: Interval) -> None:
        assert data.shape[-2:] == (rows[1] - rows[0], cols[1] - cols[0])
        self.data, self.rows, self.cols = data, rows, cols

    def crop(self, rows: Interval, cols: Interval) -> 'Crop':
        assert self.rows[0] <= rows[0] and rows[1] <= self.rows[1], (self.rows, rows)
        assert self.cols[0] <= cols[0] and cols[1] <= self.cols[1], (self.cols, cols)
        return Crop(self.data[..., rows[0] - self.rows[0]:rows[1] - self.rows[0],
                              cols[0] - self.cols[0]:cols[1] - self.cols[0]], rows, cols)

    def map(self, module) -> 'Crop':
        """A pointwise module (1x1 convolution, norm, activation)."""
        return Crop(module(self.data), self.rows, self.cols)

    def conv(self, module, rows: Interval, cols: Interval) -> 'Crop':
        """The crop (rows, cols) of a 'same'-padded convolution; this crop must cover its halo.

        Rows at the crop's edges that are not the map's edges see zeros instead of their
        neighbours; they are the halo, cut away here.
        """
        return Crop(module(self.data), self.rows, self.cols).crop(rows, cols)

    def resize(self, row_matrix: ResizeMatrix, col_matrix: ResizeMatrix, rows: Interval, cols: Interval) -> 'Crop':
        """The crop (rows, cols) of the resize whose whole-map matrices are given."""
        assert (_inside(row_matrix.exact, rows, self.rows)
                and _inside(col_matrix.exact, cols, self.cols)), 'halo too small'
        data = self.data
        # .to: a no-op but where autocast has made the maps another dtype than the features
        r = row_matrix.applied[rows[0]:rows[1], self.rows[0]:self.rows[1]].to(data.dtype)
        c = col_matrix.applied[cols[0]:cols[1], self.cols[0]:self.cols[1]].to(data.dtype)
        return Crop(torch.matmul(torch.matmul(r, data), c.t()), rows, cols)


def _inside(matrix: Tensor, out: Interval, crop: Interval) -> bool:
    """Whether the output rows `out` read no input outside `crop`."""
    rows = matrix[out[0]:out[1]]
    return not (rows[:, :crop[0]].any() or rows[:, crop[1]:].any())
