"""Non-causal linear attention on (B, H, N, d) tensors, with a quadratic reference.

Both functions use the mean-normalised form

    out_i = phi(q_i) . (mean_j phi(k_j) v_j^T) / (phi(q_i) . mean_j phi(k_j) + eps),

which equals the usual sum form with eps * N in place of eps. Means instead of sums keep
the statistics bounded however many tokens there are (sums of 100k positive features
overflow fp16), and make eps a resolution-independent floor of the denominator.
"""
from __future__ import annotations

import torch


def _accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for half types and float32, float64 for float64 (so gradcheck stays exact)."""
    return torch.promote_types(dtype, torch.float32)


def linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                     eps: float = 1e-6) -> torch.Tensor:
    """Linear attention in O(N dk dv) time and O(N d) memory (no N x N matrix).

    The statistics mean_j phi(k_j) v_j^T and mean_j phi(k_j) are accumulated in float32 even
    for fp16/bf16 inputs and under ``torch.autocast`` (which is disabled inside): in half
    precision they overflow or lose the small contributions of most tokens, giving
    inf/NaN outputs at high resolution.

    Args:
        q: feature-mapped queries phi(q), non-negative, (B, H, N, dk).
        k: feature-mapped keys phi(k), non-negative, (B, H, M, dk).
        v: values, (B, H, M, dv).
        eps: added to the mean-normalised denominator (equivalent to eps * M in the sum form).

    Returns:
        (B, H, N, dv) tensor in v's dtype.
    """
    acc = _accumulation_dtype(v.dtype)
    with torch.autocast(q.device.type, enabled=False):
        q, k, v_acc = q.to(acc), k.to(acc), v.to(acc)
        kv = torch.matmul(k.transpose(-2, -1), v_acc) / k.shape[-2]  # (B, H, dk, dv)
        z = k.mean(dim=-2).unsqueeze(-1)  # (B, H, dk, 1)
        out = torch.matmul(q, kv) / (torch.matmul(q, z) + eps)
    return out.to(v.dtype)


def linear_attention_naive(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                           eps: float = 1e-6) -> torch.Tensor:
    """Reference for :func:`linear_attention` through the explicit N x M score matrix.

    Computes A = phi(q) phi(k)^T / M in float32 (float64 for float64 inputs; autocast
    disabled), then out = A v / (A 1 + eps). Quadratic in memory: for tests only.
    """
    acc = _accumulation_dtype(v.dtype)
    with torch.autocast(q.device.type, enabled=False):
        scores = torch.matmul(q.to(acc), k.to(acc).transpose(-2, -1)) / k.shape[-2]
        out = torch.matmul(scores, v.to(acc)) / (scores.sum(dim=-1, keepdim=True) + eps)
    return out.to(v.dtype)
