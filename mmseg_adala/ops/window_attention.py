"""Local-window attention on (B, H, N, d) tensors whose tokens are prefix tokens + a patch grid.

Two kernels share one partition of the patch grid into non-overlapping w x w windows (the
grid is padded to whole windows; padded keys are masked out, padded queries dropped):

- ``window_attention``: softmax inside each window (Swin, ViTDet, L2ViT's local window
  attention), O(N w^2) instead of O(N^2);
- ``window_linear_attention``: LoLCATs' hybrid, softmax inside the window and feature-mapped
  linear attention over all other patches, in one normalised sum, O(N (w^2 + d^2)).

Prefix tokens (cls, registers) have no grid position: every patch query sees them as part of
its window, and they themselves attend to all tokens with plain softmax, as ViTDet-style
implementations with a cls token do. Each kernel has a naive reference beside it that builds
the explicit N x N mask from :func:`window_mask`.
"""
from __future__ import annotations

import math
from typing import Callable, Optional, Tuple, Union

import torch
import torch.nn.functional as F

from .linear_attention import accumulation_dtype
from .softmax_attention import softmax_attention

Factor = Union[float, torch.Tensor]


def window_mask(grid_size: Tuple[int, int], window_size: int, num_prefix_tokens: int = 0,
                device: Optional[torch.device] = None) -> torch.Tensor:
    """(N, N) bool, True where query i's window holds key j (N = prefix tokens + patches).

    Prefix rows and prefix columns are all True; patch i sees patch j iff both lie in the same
    w x w window of the grid (windows tile the grid from its top-left corner).
    """
    rows, cols = grid_size
    ys, xs = torch.meshgrid(torch.arange(rows, device=device), torch.arange(cols, device=device), indexing='ij')
    ids = ((ys // window_size) * math.ceil(cols / window_size) + xs // window_size).flatten()
    P = num_prefix_tokens
    mask = torch.ones(P + ids.numel(), P + ids.numel(), dtype=torch.bool, device=device)
    mask[P:, P:] = ids[:, None] == ids[None, :]
    return mask


def _check_tokens(x: torch.Tensor, grid_size: Tuple[int, int], num_prefix_tokens: int) -> None:
    if x.shape[-2] != num_prefix_tokens + grid_size[0] * grid_size[1]:
        raise ValueError(f'{x.shape[-2]} tokens are not {num_prefix_tokens} prefix tokens + a '
                         f'{grid_size[0]}x{grid_size[1]} grid')


def _partition(x: torch.Tensor, grid_size: Tuple[int, int], window_size: int) -> torch.Tensor:
    """(B, H, rows * cols, d) patch tokens -> (B, H, windows, w * w, d), the grid zero-padded."""
    B, H, _, d = x.shape
    rows, cols = grid_size
    w = window_size
    pad_rows, pad_cols = -rows % w, -cols % w
    x = F.pad(x.reshape(B, H, rows, cols, d), (0, 0, 0, pad_cols, 0, pad_rows))
    x = x.reshape(B, H, (rows + pad_rows) // w, w, (cols + pad_cols) // w, w, d).transpose(3, 4)
    return x.reshape(B, H, -1, w * w, d)


def _unpartition(x: torch.Tensor, grid_size: Tuple[int, int], window_size: int) -> torch.Tensor:
    """Inverse of :func:`_partition`, padding cropped: (B, H, windows, w * w, d) -> (B, H, rows * cols, d)."""
    B, H, _, _, d = x.shape
    rows, cols = grid_size
    w = window_size
    x = x.reshape(B, H, math.ceil(rows / w), math.ceil(cols / w), w, w, d).transpose(3, 4)
    x = x.reshape(B, H, x.shape[2] * w, x.shape[4] * w, d)[:, :, :rows, :cols]
    return x.reshape(B, H, rows * cols, d)


def _window_keys(x: torch.Tensor, grid_size: Tuple[int, int], window_size: int,
                 num_prefix_tokens: int) -> torch.Tensor:
    """The keys (or values) each window's queries see: prefix tokens, then the window's patches.

    Returns (B, H, windows, P + w * w, d).
    """
    windows = _partition(x[:, :, num_prefix_tokens:], grid_size, window_size)
    prefix = x[:, :, None, :num_prefix_tokens].expand(-1, -1, windows.shape[2], -1, -1)
    return torch.cat([prefix, windows], dim=3)


def _key_padding(grid_size: Tuple[int, int], window_size: int, num_prefix_tokens: int,
                 device: torch.device) -> torch.Tensor:
    """(windows, 1, P + w * w) bool, True for real keys and False for the grid's padding."""
    ones = torch.ones(1, 1, num_prefix_tokens + grid_size[0] * grid_size[1], 1, device=device)
    return _window_keys(ones, grid_size, window_size, num_prefix_tokens)[0, 0, :, None, :, 0] > 0


def window_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, grid_size: Tuple[int, int],
                     window_size: int, num_prefix_tokens: int = 0, scale: Optional[float] = None,
                     dropout_p: float = 0.) -> torch.Tensor:
    """Softmax attention inside non-overlapping w x w windows of the patch grid, O(N w^2).

    The windows are folded into the head axis of one 4-D ``F.scaled_dot_product_attention``
    call (on 5-D tensors SDPA runs its math kernel only, with a w^2 x w^2 matrix per window),
    with the grid's padding, if any, as a boolean key mask (no window is all padding: the
    padding is < w per side). A window covering the whole grid gives plain softmax attention.

    Args:
        q, k, v: (B, H, N, d) with N = num_prefix_tokens + rows * cols, prefix tokens first.
        grid_size: (rows, cols) of the patch grid.
        window_size: side w of the windows, in patches.
        num_prefix_tokens: cls + register tokens, which attend to (and are seen by) all tokens.
        scale: logit scale; defaults to d ** -0.5.
        dropout_p: dropout on the attention weights (training only; the caller decides).

    Returns:
        (B, H, N, dv) tensor in the inputs' dtype.
    """
    for x in (q, k, v):
        _check_tokens(x, grid_size, num_prefix_tokens)
    P = num_prefix_tokens
    prefix = softmax_attention(q[:, :, :P], k, v, scale=scale, dropout_p=dropout_p)
    queries = _partition(q[:, :, P:], grid_size, window_size)  # (B, H, W, w * w, d)
    B, H, W = queries.shape[:3]
    keys, values = (_window_keys(x, grid_size, window_size, P).flatten(1, 2) for x in (k, v))
    padded = grid_size[0] % window_size or grid_size[1] % window_size
    # Without padding, no mask: SDPA can then take its flash kernels. A mask must be 4-D for the fused ones.
    mask = _key_padding(grid_size, window_size, P, q.device).repeat(H, 1, 1)[None] if padded else None
    windows = F.scaled_dot_product_attention(queries.flatten(1, 2), keys, values, attn_mask=mask,
                                             dropout_p=dropout_p, scale=scale)
    return torch.cat([prefix, _unpartition(windows.unflatten(1, (H, W)), grid_size, window_size)], dim=2)


def window_attention_naive(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, grid_size: Tuple[int, int],
                           window_size: int, num_prefix_tokens: int = 0,
                           scale: Optional[float] = None) -> torch.Tensor:
    """Reference for :func:`window_attention`: softmax of the N x N scores masked by :func:`window_mask`.

    Float32 (float64 for float64 inputs; autocast disabled). Quadratic in memory: for tests only.
    """
    acc = accumulation_dtype(v.dtype)
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    mask = window_mask(grid_size, window_size, num_prefix_tokens, q.device)
    with torch.autocast(q.device.type, enabled=False):
        scores = torch.matmul(q.to(acc), k.to(acc).transpose(-2, -1)) * scale
        out = torch.matmul(scores.masked_fill(~mask, float('-inf')).softmax(dim=-1), v.to(acc))
    return out.to(v.dtype)


def window_linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, grid_size: Tuple[int, int],
                            window_size: int, feature_map: Callable[[torch.Tensor], torch.Tensor],
                            window_factor: Factor, linear_factor: Factor = 1., num_prefix_tokens: int = 0,
                            scale: Optional[float] = None,
                            key_map: Optional[Callable[[torch.Tensor], torch.Tensor]] = None) -> torch.Tensor:
    """LoLCATs' window + linear attention (Zhang et al., 2024, arXiv 2410.10254), on a 2D grid.

    For query i with window W(i) (prefix tokens + the patches of its w x w window):

        out_i = (sum_{j in W(i)} a * exp(s_ij - m_i) v_j + sum_{j not in W(i)} b * phi(q_i).phi(k_j) v_j)
                / (the same sums without v_j),

    with s_ij = q_i.k_j * scale, m_i = max_{j in W(i)} s_ij, a = `window_factor` and b =
    `linear_factor`. This is the formula of HazyResearch/lolcats
    (src/model/linear_attention/linear_window_attention_sw.py, ``hybrid_attention_quadratic``),
    including its choices: the softmax terms are offset by their window's maximum (so each row
    has a softmax term a * 1, which also keeps the denominator positive without an eps), the
    linear terms are raw sums (no 1/N), and a weighs the two parts (LoLCATs learns it per head
    as sigmoid of a parameter, b = 1). LoLCATs' window is causal and 1D (the last 64 tokens);
    here it is the non-overlapping 2D window of :func:`window_attention`, which keeps the cost
    O(N (w^2 + d^2)). Prefix queries' window is the whole sequence: their output is softmax.

    The linear part over "all patches outside the window" is computed as phi(q_i) times the
    statistics of all patches minus the in-window linear scores, all in float32 (float64 for
    float64 inputs) with autocast off.

    Args:
        q, k, v: (B, H, N, d) with N = num_prefix_tokens + rows * cols, prefix tokens first.
        grid_size: (rows, cols) of the patch grid.
        window_size: side w of the softmax windows, in patches.
        feature_map: phi of the linear part (non-negative), applied token by token to q and k.
        window_factor: a, a float or a per-head (H,) tensor.
        linear_factor: b, a float or a per-head (H,) tensor.
        num_prefix_tokens: cls + register tokens.
        scale: logit scale of the softmax part; defaults to d ** -0.5.
        key_map: phi of the keys where it is not the queries' (LoLCATs learns one map for each);
            by default `feature_map` maps both.

    Returns:
        (B, H, N, dv) tensor in v's dtype.
    """
    key_map = feature_map if key_map is None else key_map
    for x in (q, k, v):
        _check_tokens(x, grid_size, num_prefix_tokens)
    acc, out_dtype = accumulation_dtype(v.dtype), v.dtype
    P, dv = num_prefix_tokens, v.shape[-1]
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    a, b = (_per_head(f, acc, q.device) for f in (window_factor, linear_factor))
    with torch.autocast(q.device.type, enabled=False):
        q, k, v = q.to(acc), k.to(acc), v.to(acc)
        prefix = softmax_attention(q[:, :, :P], k, v, scale=scale)
        v1 = F.pad(v, (0, 1), value=1.)  # the normaliser rides as an extra column of v
        phi_q, phi_k = feature_map(q[:, :, P:]), key_map(k[:, :, P:])
        kvz = torch.matmul(phi_k.transpose(-2, -1), v1[:, :, P:])  # (B, H, F, dv + 1), all patches

        padding = _key_padding(grid_size, window_size, P, q.device)
        q_win = _partition(q[:, :, P:], grid_size, window_size)  # (B, H, W, w*w, d)
        k_win, v_win = (_window_keys(x, grid_size, window_size, P) for x in (k, v1))  # (B, H, W, P + w*w, .)
        scores = torch.matmul(q_win, k_win.transpose(-2, -1)) * scale
        scores = scores.masked_fill(~padding, float('-inf'))
        soft = a[..., None] * torch.exp(scores - scores.amax(dim=-1, keepdim=True))
        phi_win = _partition(phi_q, grid_size, window_size)
        inside = torch.matmul(phi_win, _partition(phi_k, grid_size, window_size).transpose(-2, -1))
        outside = torch.matmul(phi_win, kvz[:, :, None]) - torch.matmul(inside, v_win[..., P:, :])
        num_den = torch.matmul(soft, v_win) + b[..., None] * outside  # (B, H, W, w*w, dv + 1)
        patches = _unpartition(num_den[..., :dv] / num_den[..., dv:], grid_size, window_size)
        return torch.cat([prefix, patches], dim=2).to(out_dtype)


def _per_head(factor: Factor, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A float or (H,) factor as a tensor that broadcasts over (B, H, N, N): (1 or H, 1, 1)."""
    if not isinstance(factor, torch.Tensor):
        factor = torch.tensor(factor, device=device)
    return factor.to(device=device, dtype=dtype).reshape(-1, 1, 1)


def window_linear_attention_naive(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, grid_size: Tuple[int, int],
                                  window_size: int, feature_map: Callable[[torch.Tensor], torch.Tensor],
                                  window_factor: Factor, linear_factor: Factor = 1., num_prefix_tokens: int = 0,
                                  scale: Optional[float] = None,
                                  key_map: Optional[Callable[[torch.Tensor], torch.Tensor]] = None) -> torch.Tensor:
    """Reference for :func:`window_linear_attention` through explicit N x N scores.

    The softmax and linear score matrices are masked by :func:`window_mask` and its complement,
    summed and normalised per row, as LoLCATs' ``hybrid_attention_quadratic`` does. Float32
    (float64 for float64 inputs; autocast disabled). Quadratic in memory: for tests only.
    """
    acc, out_dtype = accumulation_dtype(v.dtype), v.dtype
    key_map = feature_map if key_map is None else key_map
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    mask = window_mask(grid_size, window_size, num_prefix_tokens, q.device)
    a, b = (_per_head(f, acc, q.device) for f in (window_factor, linear_factor))
    with torch.autocast(q.device.type, enabled=False):
        q, k, v = q.to(acc), k.to(acc), v.to(acc)
        scores = (torch.matmul(q, k.transpose(-2, -1)) * scale).masked_fill(~mask, float('-inf'))
        soft = a * torch.exp(scores - scores.amax(dim=-1, keepdim=True))
        linear = b * torch.matmul(feature_map(q), key_map(k).transpose(-2, -1)).masked_fill(mask, 0.)
        weights = soft + linear
        out = torch.matmul(weights, v) / weights.sum(dim=-1, keepdim=True)
    return out.to(out_dtype)
