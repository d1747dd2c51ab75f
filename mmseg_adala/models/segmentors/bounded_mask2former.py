"""Feature2Pyramid + MMSeg's Mask2FormerHead on a whole high-resolution image in bounded memory.

Untiled, a DINOv2-L Mask2Former at 4096 px holds Feature2Pyramid's 1024-channel stride-3.5 map
(5.6 GB), the deformable attention's sampled values of every pixel-decoder query (8 heads x 32
channels x 12 points: 5.5 GB a layer), a 100-query mask at stride 3.5 after each of the 10
decoder steps (0.55 GB each) and the last one resized to the image before its sigmoid (6.7 GB,
twice). Here each part is computed in pieces whose results are those of the whole:

- the neck and the pixel decoder's 1x1 input projections run in tiles of the patch grid.
  Feature2Pyramid's layers (2x2 stride-2 deconvolutions, BatchNorm, GELU, 2x2 max pooling) map
  a tile to exactly the tile of their output, so no halo is needed; only the projected
  256-channel maps are held.
- GroupNorm takes its statistics over the whole map, then normalises in place, with the
  formula of PyTorch's kernel (x * scale + shift).
- The encoder's deformable attention runs in chunks of queries: every query reads the whole
  value map (projected once a layer), so a chunk's rows are those of the whole.
- The stride-3.5 level is upsampled-added, convolved (3x3, one row of halo) and projected to
  the mask features in row bands, in place.
- Each decoder step's attention mask is the sigmoid of the mask logits at that level's size.
  MMSeg computes them at stride 3.5 and resizes them; a bilinear resize is linear, so resizing
  the mask features first and projecting them gives the same logits (up to rounding: a logit
  within rounding of 0 can flip one attention entry).
- The masked cross-attention runs in chunks of queries (each query's attention is its own).
- The image's class logits are made band by band (`MaskLogitRows`, read by `banded_argmax`).

Everything else is the modules' own forward. What differs from the untiled head is float
rounding (reduction orders); tests/models/segmentors/test_mask2former.py measures it.
"""
import copy
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.models.decode_heads import Mask2FormerHead
from mmseg.models.necks import Feature2Pyramid
from torch import Tensor

from .label_maps import RowSource
from .halo_crops import Crop, resize_matrix, span

CHUNK_BYTES = 2 ** 28  # temporaries of one chunk of queries or one band of rows


def supports_bounded_mask2former(neck, head) -> bool:
    """Whether `bounded_mask2former` can compute this neck and head."""
    from mmdet.models.layers import MSDeformAttnPixelDecoder

    decoder = getattr(head, 'pixel_decoder', None)
    return (isinstance(neck, Feature2Pyramid) and list(neck.rescales) == [4, 2, 1, 0.5]
            and isinstance(head, Mask2FormerHead) and isinstance(decoder, MSDeformAttnPixelDecoder)
            and decoder.num_input_levels == 4 and decoder.num_encoder_levels == 3
            and all(m.order == ('conv', 'norm', 'act') for m in (*decoder.input_convs, *decoder.lateral_convs,
                                                                  *decoder.output_convs)))


@torch.no_grad()
def bounded_mask2former(neck: Feature2Pyramid, head: Mask2FormerHead, feats: List[Tensor], grid_tile: int,
                        size: Tuple[int, int]) -> 'MaskLogitRows':
    """The class logits that `head.predict(neck(feats))` gives at `size` (one image, eval mode).

    `feats` (the backbone's four maps of one image) is consumed: its entries are dropped once
    used. `grid_tile` is the neck's tile side in patches (even, for the max pooling).
    """
    decoder = head.pixel_decoder
    # the encoder's levels (3, 2, 1: low to high resolution, mmdet's order) through their input projections
    memories = [_projected(neck, feats, 3 - i, conv, grid_tile) for i, conv in enumerate(decoder.input_convs)]
    feats[1:] = [None] * 3
    memories = _encode(decoder, memories)
    mask_feature = _projected(neck, feats, 0, decoder.lateral_convs[0], grid_tile)
    feats[0] = None
    _finish_mask_features(decoder, mask_feature, memories[-1])
    cls_pred, mask_embed = _decode(head, mask_feature, memories)
    return MaskLogitRows(cls_pred[0], mask_embed[0], mask_feature[0], size)


def _neck_level(neck: Feature2Pyramid, level: int) -> nn.Module:
    return (neck.upsample_4x, neck.upsample_2x, neck.identity, neck.downsample_2x)[level]


def _projected(neck: Feature2Pyramid, feats: Sequence[Tensor], level: int, projection: nn.Module,
               grid_tile: int) -> Tensor:
    """`projection(neck(feats)[level])` (a ConvModule: 1x1 conv, GroupNorm), the neck in tiles."""
    x, op, scale = feats[level], _neck_level(neck, level), neck.rescales[level]
    height, width = x.shape[2:]
    out = x.new_empty(x.shape[0], projection.conv.out_channels, int(height * scale), int(width * scale))
    for top in range(0, height, grid_tile):
        for left in range(0, width, grid_tile):
            tile = x[..., top:top + grid_tile, left:left + grid_tile]
            if min(tile.shape[2:]) * scale < 1:  # a last odd row or column, which the pooling drops
                continue
            y = projection.conv(op(tile))
            row, col = int(top * scale), int(left * scale)
            out[..., row:row + y.shape[2], col:col + y.shape[3]] = y
    _group_norm_(out, projection.norm)
    return out


def _group_norm_(x: Tensor, norm: nn.GroupNorm) -> None:
    """`x = norm(x)` in place, statistics over the whole map."""
    batch, channels = x.shape[:2]
    var, mean = torch.var_mean(x.view(batch, norm.num_groups, -1), dim=2, unbiased=False)
    per_group = channels // norm.num_groups
    scale = (var + norm.eps).rsqrt().repeat_interleave(per_group, 1)
    shift = -mean.repeat_interleave(per_group, 1) * scale
    if norm.affine:
        scale, shift = scale * norm.weight, shift * norm.weight + norm.bias
    x.mul_(scale[..., None, None]).add_(shift[..., None, None])


def _with_modules(module: nn.Module, **replacements: nn.Module) -> nn.Module:
    """A shallow copy of `module` (same parameters) whose named submodules are replaced."""
    view = copy.copy(module)
    view._modules = dict(module._modules, **replacements)
    return view


def _encode(decoder, levels: List[Tensor]) -> List[Tensor]:
    """The pixel decoder's deformable-attention encoder on its projected levels, low to high
    resolution (MSDeformAttnPixelDecoder.forward up to the split), in chunks of queries."""
    spatial = [tuple(x.shape[2:]) for x in levels]
    positions, references = [], []
    for i, (height, width) in enumerate(spatial):
        level_idx = decoder.num_input_levels - i - 1
        no_padding = levels[i].new_zeros((1, height, width), dtype=torch.bool)
        position = decoder.postional_encoding(no_padding) + decoder.level_encoding.weight[i].view(1, -1, 1, 1)
        positions.append(position.flatten(2).transpose(1, 2))
        points = decoder.point_generator.single_level_grid_priors((height, width), level_idx, device=no_padding.device)
        factor = torch.tensor([width, height], device=points.device) * decoder.strides[level_idx]
        references.append(points / factor)
    queries = torch.cat([x.flatten(2).transpose(1, 2) for x in levels], 1)
    levels.clear()
    positions = torch.cat(positions, 1)
    references = torch.cat(references)[None, :, None].repeat(1, 1, len(spatial), 1)
    shapes = torch.tensor(spatial, dtype=torch.long, device=queries.device)
    starts = torch.cat((shapes.new_zeros(1), shapes.prod(1).cumsum(0)[:-1]))
    for layer in decoder.encoder.layers:
        attention = layer.self_attn
        # mmcv's forward with the value projected once, not once per chunk
        values, attention = attention.value_proj(queries), _with_modules(attention, value_proj=nn.Identity())
        per_query = 4 * (2 * attention.embed_dims * attention.num_levels * attention.num_points
                         + layer.ffn.feedforward_channels + 4 * attention.embed_dims)
        out = torch.empty_like(queries)
        for s in _chunks(queries.shape[1], per_query):
            x = attention(query=queries[:, s], value=values, query_pos=positions[:, s],
                          reference_points=references[:, s], spatial_shapes=shapes, level_start_index=starts)
            out[:, s] = layer.norms[1](layer.ffn(layer.norms[0](x)))  # DeformableDetrTransformerEncoderLayer
        queries = out
    sizes = [h * w for h, w in spatial]
    return [x.transpose(1, 2).reshape(1, -1, *hw) for x, hw in zip(queries.split(sizes, 1), spatial)]


def _chunks(total: int, bytes_per_item: int):
    step = max(1, CHUNK_BYTES // bytes_per_item)
    return [slice(start, min(start + step, total)) for start in range(0, total, step)]


def _finish_mask_features(decoder, x: Tensor, coarser: Tensor) -> None:
    """The stride-3.5 branch after its lateral projection, in place on `x`: add the upsampled
    next level, output_convs[0] (3x3 conv, GroupNorm, ReLU), then the mask-feature 1x1 conv."""
    width, channels = x.shape[3], x.shape[1]
    rows = _chunks(x.shape[2], 4 * 4 * channels * width)
    row_matrix = resize_matrix(coarser.shape[2], x.shape[2])  # F.interpolate(size=...), align_corners=False
    for band in rows:
        x[:, :, band] += _resized_rows(coarser, row_matrix, band, width)
    output = decoder.output_convs[0]
    _conv_rows_(x, output.conv, rows)
    _group_norm_(x, output.norm)
    for band in rows:
        x[:, :, band] = decoder.mask_feature(output.activate(x[:, :, band]))


def _resized_rows(x: Tensor, row_matrix: Tensor, band: slice, width: int) -> Tensor:
    """Rows `band` of `F.interpolate(x, size=(len(row_matrix), width))` (bilinear, align_corners
    False): the columns of the few input rows they read resized whole, then those rows combined."""
    src = span(row_matrix, (band.start, band.stop))
    x = F.interpolate(x[..., src[0]:src[1], :], size=(src[1] - src[0], width), mode='bilinear', align_corners=False)
    return torch.matmul(row_matrix[band, src[0]:src[1]].to(x), x)


def _conv_rows_(x: Tensor, conv: nn.Conv2d, bands: Sequence[slice]) -> None:
    """`x = conv(x)` in place for a 3x3, stride-1, zero-padded conv with as many outputs as
    inputs, band by band: each band reads the input row above it, saved before it is overwritten."""
    assert conv.kernel_size == (3, 3) and conv.stride == (1, 1) and conv.padding == (1, 1), conv
    assert conv.in_channels == conv.out_channels == x.shape[1], conv
    height, width = x.shape[2:]
    above: Optional[Tensor] = None
    for band in bands:
        stop = min(band.stop + 1, height)
        src = x[:, :, band.start:stop] if above is None else torch.cat([above, x[:, :, band.start:stop]], 2)
        crop = Crop(src, (band.start - (above is not None), stop), (0, width))
        above = x[:, :, band.stop - 1:band.stop].clone()
        x[:, :, band] = crop.conv(conv, (band.start, band.stop), (0, width)).data


def _decode(head: Mask2FormerHead, mask_feature: Tensor, memories: List[Tensor]) -> Tuple[Tensor, Tensor]:
    """The transformer decoder (Mask2FormerHead.forward): the last step's class logits and mask embeddings."""
    decoder = head.transformer_decoder
    keys, key_positions = [], []
    for i, memory in enumerate(memories):
        keys.append(head.decoder_input_projs[i](memory).flatten(2).transpose(1, 2)
                    + head.level_embed.weight[i].view(1, 1, -1))
        no_padding = memory.new_zeros((1, *memory.shape[2:]), dtype=torch.bool)
        key_positions.append(head.decoder_positional_encoding(no_padding).flatten(2).transpose(1, 2))
    sizes = [tuple(m.shape[2:]) for m in memories]
    memories.clear()
    query = head.query_feat.weight[None]
    query_pos = head.query_embed.weight[None]
    for i, layer in enumerate(decoder.layers):
        level = i % head.num_transformer_feat_level
        mask_embed = head.mask_embed(decoder.post_norm(query))
        # resize, then project: equal to MMSeg's project at stride 3.5, then resize (linear maps)
        features = F.interpolate(mask_feature, size=sizes[level], mode='bilinear', align_corners=False)
        cross = torch.empty_like(query)
        for s in _chunks(query.shape[1], 16 * head.num_heads * keys[level].shape[1]):
            masked = torch.einsum('bqc,bchw->bqhw', mask_embed[:, s], features).flatten(2).sigmoid() < 0.5
            masked &= (masked.sum(-1) != masked.shape[-1]).unsqueeze(-1)  # an all-masked query sees everything
            masked = masked.unsqueeze(1).repeat(1, head.num_heads, 1, 1).flatten(0, 1)
            cross[:, s] = layer.cross_attn(query=query[:, s], key=keys[level], value=keys[level],
                                           query_pos=query_pos[:, s], key_pos=key_positions[level], attn_mask=masked)
        del features
        # the rest of Mask2FormerTransformerDecoderLayer
        query = layer.norms[0](cross)
        query = layer.self_attn(query=query, key=query, value=query, query_pos=query_pos, key_pos=query_pos)
        query = layer.norms[2](layer.ffn(layer.norms[1](query)))
    out = decoder.post_norm(query)
    return head.cls_embed(out), head.mask_embed(out)


class MaskLogitRows(RowSource):
    """Mask2Former's class logits at `size`, a band of rows at a time: the softmax class scores
    (without "no object") times the sigmoid of each query's mask resized to `size`, summed over
    the queries (Mask2FormerHead.predict)."""

    def __init__(self, cls_pred: Tensor, mask_embed: Tensor, mask_feature: Tensor, size: Tuple[int, int]) -> None:
        self.scores = F.softmax(cls_pred, dim=-1)[:, :-1]
        self.embed, self.features = mask_embed, mask_feature
        self.row_matrix = resize_matrix(mask_feature.shape[1], size[0])  # align_corners=False, as predict()
        self.shape = (self.scores.shape[1], *size)
        self.dtype, self.device = mask_feature.dtype, mask_feature.device
        self.band_channels = 3 * self.scores.shape[0]  # masks, their sigmoid, the resize's output

    def rows(self, top: int, bottom: int) -> Tensor:
        src = span(self.row_matrix, (top, bottom))
        masks = torch.einsum('qc,chw->qhw', self.embed, self.features[:, src[0]:src[1]])  # the rows read only
        band = _resized_rows(masks[None], self.row_matrix[:, src[0]:src[1]], slice(top, bottom), self.shape[2])[0]
        return torch.einsum('qk,qhw->khw', self.scores, band.sigmoid())

    def all_rows(self) -> Tensor:
        """The whole (C, H, W) map (for comparisons: it is what the bands avoid holding)."""
        return self.rows(0, self.shape[1])
