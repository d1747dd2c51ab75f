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

    Fewer passes over the (B, H, N, d) tensors, since at high resolution this op is memory-
    bound: the normaliser rides as an extra column of K^T V, so one matmul gives numerator
    and denominator; and without autograd (inference) the division writes straight into
    (B, N, H, dv) memory, so the caller's ``out.transpose(1, 2).reshape(B, N, H * dv)`` is a
    free view, not a copy.

    Args:
        q: feature-mapped queries phi(q), non-negative, (B, H, N, dk).
        k: feature-mapped keys phi(k), non-negative, (B, H, M, dk).
        v: values, (B, H, M, dv).
        eps: added to the mean-normalised denominator (equivalent to eps * M in the sum form).

    Returns:
        (B, H, N, dv) tensor in v's dtype (in inference laid out in memory as (B, N, H, dv)).
    """
    acc = _accumulation_dtype(v.dtype)
    B, H, N, dv = q.shape[0], q.shape[1], q.shape[2], v.shape[-1]
    with torch.autocast(q.device.type, enabled=False):
        q, k, v_acc = q.to(acc), k.to(acc), v.to(acc)
        kv = torch.matmul(k.transpose(-2, -1), v_acc)  # (B, H, dk, dv)
        kvz = torch.cat([kv, k.sum(dim=-2).unsqueeze(-1)], dim=-1) / k.shape[-2]  # (B, H, dk, dv + 1)
        num_den = torch.matmul(q, kvz)  # (B, H, N, dv + 1)
        num, den = num_den[..., :dv], num_den[..., dv:] + eps
        if torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v_acc)):
            return (num / den).to(v.dtype)  # out= below does not support autograd
        out = torch.empty(B, N, H, dv, dtype=v.dtype, device=v.device).transpose(1, 2)
        return torch.div(num, den, out=out)


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
