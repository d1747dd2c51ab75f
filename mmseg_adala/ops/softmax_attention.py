"""Softmax attention on (B, H, N, d) tensors: the teacher / baseline beside linear attention."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def softmax_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                      scale: float | None = None, dropout_p: float = 0.) -> torch.Tensor:
    """softmax(q k^T * scale) v through ``F.scaled_dot_product_attention``.

    SDPA dispatches to the fused flash / memory-efficient kernels where available, so the
    N x M score matrix is not materialised on those paths.

    Args:
        q: queries, (B, H, N, dk).
        k: keys, (B, H, M, dk).
        v: values, (B, H, M, dv).
        scale: logit scale; defaults to dk ** -0.5.
        dropout_p: dropout on the attention weights (training only; the caller decides).

    Returns:
        (B, H, N, dv) tensor in the inputs' dtype.
    """
    return F.scaled_dot_product_attention(q, k, v, scale=scale, dropout_p=dropout_p)


def softmax_attention_naive(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                            scale: float | None = None) -> torch.Tensor:
    """Reference for :func:`softmax_attention`: explicit softmax(q k^T * scale) v.

    Computed in float32 (float64 for float64 inputs; autocast disabled). Quadratic in
    memory: for tests only.

    Returns:
        (B, H, N, dv) tensor in v's dtype.
    """
    acc = torch.promote_types(v.dtype, torch.float32)
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    with torch.autocast(q.device.type, enabled=False):
        scores = torch.matmul(q.to(acc), k.to(acc).transpose(-2, -1)) * scale
        out = torch.matmul(scores.softmax(dim=-1), v.to(acc))
    return out.to(v.dtype)
