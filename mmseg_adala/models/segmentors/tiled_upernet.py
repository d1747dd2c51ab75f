"""MMSeg's MultiLevelNeck + UPerHead evaluated tile by tile, equal to the whole-map result.

At 4096 px the ViT's four 1024-channel maps resampled to stride 3.5 hold gigabytes; the neck
and head convolutions are local, so each output tile is computed from a crop of the
backbone features wide enough for every 3x3 convolution and bilinear resize on the way (see
`halo_crops.py`). The pyramid pooling module pools the whole lowest-resolution map: it is the one
global part, computed once on that (small) map and cropped for each tile.
"""
from typing import Dict, List, Sequence

import torch
from mmseg.models.decode_heads import UPerHead
from mmseg.models.necks import MultiLevelNeck
from mmseg.models.utils import resize
from torch import Tensor

from .halo_crops import Crop, Interval, ResizeMatrix, grow, hull, resize_matrix, span


def supports_tiling(neck, head) -> bool:
    """Whether `tiled_upernet_logits` can compute this neck and head."""
    return (isinstance(neck, MultiLevelNeck) and isinstance(head, UPerHead) and neck.num_outs == 4
            and list(head.in_index) == [0, 1, 2, 3])


class _Axis:
    """The resize matrices along one axis (rows or columns) and the crops each tile needs.

    The matrices go to the device of `like`, in its dtype, once per image (`ResizeMatrix`).
    """

    def __init__(self, neck: MultiLevelNeck, head: UPerHead, feature_sizes: Sequence[int], like: Tensor) -> None:
        corners = head.align_corners
        # MultiLevelNeck resizes by scale_factor with align_corners=None (False).
        self.neck = [ResizeMatrix(resize_matrix(feature_sizes[i], scale=float(neck.scales[i])), like)
                     for i in range(4)]
        self.sizes = [m.exact.shape[0] for m in self.neck]
        self.top_down = [ResizeMatrix(resize_matrix(self.sizes[i + 1], self.sizes[i], align_corners=corners), like)
                         for i in range(3)]
        self.up = [None] + [ResizeMatrix(resize_matrix(self.sizes[i], self.sizes[0], align_corners=corners), like)
                            for i in (1, 2, 3)]

    def needs(self, tile: Interval) -> Dict[str, List[Interval]]:
        """Intervals along this axis: fpn inputs `fpn` and laterals `lat` per level, neck resize
        outputs `up` and backbone inputs `feat` for levels 0-2, the concatenation `cat`."""
        s = self.sizes
        cat = grow(tile, s[0])  # fpn_bottleneck, 3x3
        fpn = [cat] + [span(self.up[i].exact, cat) for i in (1, 2, 3)]
        lat = [grow(fpn[0], s[0])]  # fpn_convs, 3x3
        for i in (1, 2):  # laterals feed their fpn_conv and, resized, the level below
            lat.append(hull(grow(fpn[i], s[i]), span(self.top_down[i - 1].exact, lat[i - 1])))
        lat.append(hull(fpn[3], span(self.top_down[2].exact, lat[2])))
        up = [grow(lat[i], s[i]) for i in range(3)]  # the neck's 3x3 convs
        feat = [span(self.neck[i].exact, up[i]) for i in range(3)]
        return dict(cat=cat, fpn=fpn, lat=lat, up=up, feat=feat)


@torch.no_grad()
def tiled_upernet_logits(neck: MultiLevelNeck, head: UPerHead, feats: Sequence[Tensor], tile: int) -> Tensor:
    """`head(neck(feats))`, computed in tiles of `tile` x `tile` output pixels (eval mode)."""
    inputs = [feats[i if len(neck.lateral_convs) > 1 else 0] for i in range(4)]
    laterals = [neck.lateral_convs[i if len(neck.lateral_convs) > 1 else 0] for i in range(4)]
    rows = _Axis(neck, head, [x.shape[2] for x in inputs], inputs[0])
    cols = _Axis(neck, head, [x.shape[3] for x in inputs], inputs[0])
    lowest = neck.convs[3](resize(laterals[3](inputs[3]), scale_factor=neck.scales[3], mode='bilinear'))
    full = lambda x: Crop(x, (0, x.shape[2]), (0, x.shape[3]))  # noqa: E731
    psp = full(head.psp_forward([lowest]))
    del lowest
    height, width = rows.sizes[0], cols.sizes[0]
    logits = inputs[0].new_empty(inputs[0].shape[0], head.out_channels, height, width)
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            r = rows.needs((top, min(top + tile, height)))
            c = cols.needs((left, min(left + tile, width)))
            level = []
            for i in range(3):
                x = full(inputs[i]).crop(r['feat'][i], c['feat'][i]).map(laterals[i])
                x = x.resize(rows.neck[i], cols.neck[i], r['up'][i], c['up'][i])
                x = x.conv(neck.convs[i], r['lat'][i], c['lat'][i])
                level.append(x.map(head.lateral_convs[i]))
            level.append(psp.crop(r['lat'][3], c['lat'][3]))
            for i in (2, 1, 0):  # the top-down path
                down = level[i + 1].resize(rows.top_down[i], cols.top_down[i], level[i].rows, level[i].cols)
                level[i] = Crop(level[i].data + down.data, level[i].rows, level[i].cols)
            outs = [level[i].conv(head.fpn_convs[i], r['fpn'][i], c['fpn'][i]) for i in range(3)]
            outs.append(level[3].crop(r['fpn'][3], c['fpn'][3]))
            outs = [outs[0]] + [outs[i].resize(rows.up[i], cols.up[i], r['cat'], c['cat']) for i in (1, 2, 3)]
            cat = Crop(torch.cat([o.data for o in outs], 1), r['cat'], c['cat'])
            tile_rows, tile_cols = (top, min(top + tile, height)), (left, min(left + tile, width))
            feats_out = cat.conv(head.fpn_bottleneck, tile_rows, tile_cols)
            logits[..., tile_rows[0]:tile_rows[1], tile_cols[0]:tile_cols[1]] = head.cls_seg(feats_out.data)
    return logits
