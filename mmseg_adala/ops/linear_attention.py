"""Non-causal linear attention on (B, H, N, d) tensors, with a quadratic reference.

:func:`linear_attention` and its reference use the mean-normalised form

    out_i = phi(q_i) . (mean_j phi(k_j) v_j^T) / (phi(q_i) . mean_j phi(k_j) + eps),

which equals the usual sum form with eps * N in place of eps. Means instead of sums keep
the statistics bounded however many tokens there are (sums of 100k positive features
overflow fp16), and make eps a resolution-independent floor of the denominator.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch

FeatureMap = Callable[[torch.Tensor], torch.Tensor]
# Rotation of the features of tokens start:stop, (B, H, stop - start, D), for the numerator
# (rotary linear attention's RoPE): called as rotation(features, start, stop).
TokenRotation = Callable[[torch.Tensor, int, int], torch.Tensor]


def accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for half types and float32, float64 for float64 (so gradcheck stays exact)."""
    return torch.promote_types(dtype, torch.float32)


# Tokens per chunk of the inference path: as many as fill this many bytes of one chunk's
# (B, H, chunk, d) float32 features. On CPU a chunk's intermediates then stay in cache and
# come from the allocator's heap, whereas full-size ones above glibc's mmap threshold are
# page-faulted in afresh on every call, which on a VM costs as much as the arithmetic. On
# GPUs, large chunks keep the kernel launches few.
CHUNK_BYTES = {'cpu': 4 * 2 ** 20}
DEFAULT_CHUNK_BYTES = 256 * 2 ** 20


def linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                     feature_map: Optional[FeatureMap] = None, eps: float = 1e-6,
                     key_map: Optional[FeatureMap] = None) -> torch.Tensor:
    """Linear attention in O(N dk dv) time and O(N d) memory (no N x N matrix).

    phi and the statistics mean_j phi(k_j) v_j^T and mean_j phi(k_j) are computed in float32
    even for fp16/bf16 inputs and under ``torch.autocast`` (which is disabled inside): in half
    precision the sums overflow or lose the small contributions of most tokens, giving
    inf/NaN outputs at high resolution, and phi loses its small values (ELU + 1's negative
    tail, the softmaxes of Hedgehog) to bf16's 8-bit mantissa. The normaliser rides as an
    extra column of K^T V, so one matmul gives numerator and denominator.

    Without autograd (inference) the tokens go through in chunks: phi, the statistics and the
    output of one chunk at a time, written straight into (B, N, H, dv) memory, so the caller's
    ``out.transpose(1, 2).reshape(B, N, H * dv)`` is a free view and no full-size phi(q),
    phi(k) or numerator is ever allocated.

    Args:
        q: queries, (B, H, N, dk); already feature-mapped (non-negative) if no `feature_map`.
        k: keys, (B, H, M, dk); likewise.
        v: values, (B, H, M, dv).
        feature_map: phi, applied token by token (every map in ``feature_maps`` is); run on q
            and k cast to float32 (float64 for float64 v), with autocast off.
        eps: added to the mean-normalised denominator (equivalent to eps * M in the sum form).
        key_map: phi of the keys where it is not the queries' (Hedgehog learns one map for each);
            by default `feature_map` maps both.

    Returns:
        (B, H, N, dv) tensor in v's dtype (in inference laid out in memory as (B, N, H, dv)).
    """
    return evaluate_linear_attention(q, k, v, feature_map, key_map, eps)


def evaluate_linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, feature_map: Optional[FeatureMap],
                              key_map: Optional[FeatureMap], eps: float,
                              rotation: Optional[TokenRotation] = None) -> torch.Tensor:
    """The mean-normalised form, the numerator's features optionally rotated token by token.

        out_i = [rot_i phi(q_i)] . (mean_j [rot_j phi(k_j)] v_j^T) / (phi(q_i) . mean_j phi(k_j) + eps)

    Without `rotation` this is :func:`linear_attention`, with RoPE's it is
    :func:`~.rotary_linear_attention.rotary_linear_attention`: one evaluation, so both have the
    same numerics (float32 accumulation, autocast off) and the same two paths, the whole
    sequence at once where autograd needs it, otherwise query and key tokens in chunks with the
    output written into (B, N, H, dv) memory.

    Args:
        q: queries, (B, H, N, dk); already feature-mapped if no `feature_map`.
        k: keys, (B, H, M, dk); likewise.
        v: values, (B, H, M, dv).
        feature_map: phi of the queries (and of the keys without `key_map`); None: identity.
        key_map: phi of the keys where it is not the queries'.
        eps: added to the mean-normalised denominator.
        rotation: applied to phi's output of the tokens in the numerator only (the normaliser
            must stay positive); it is called on float32 (float64) features with autocast off.

    Returns:
        (B, H, N, dv) tensor in v's dtype.
    """
    phi_q, phi_k = _query_and_key_maps(feature_map, key_map)
    if _needs_autograd((q, k, v), (phi_q, phi_k)):
        return _whole_sequence(q, k, v, phi_q, phi_k, eps, rotation)
    return _chunked(q, k, v, phi_q, phi_k, eps, rotation)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def _query_and_key_maps(feature_map: Optional[FeatureMap], key_map: Optional[FeatureMap]):
    """(phi of the queries, phi of the keys): identity without a map, the query map for keys without one."""
    phi_q = feature_map if feature_map is not None else _identity
    return phi_q, key_map if key_map is not None else phi_q


def _needs_autograd(tensors, maps) -> bool:
    """Whether the whole-sequence path must run: grad mode on and some input or map parameter trainable."""
    trainable = [t for t in tensors if t.requires_grad]
    for phi in set(maps):
        if isinstance(phi, torch.nn.Module):
            trainable += [p for p in phi.parameters() if p.requires_grad]
    return torch.is_grad_enabled() and bool(trainable)


def _chunk_tokens(q: torch.Tensor) -> int:
    """Tokens per chunk of the inference path (see CHUNK_BYTES)."""
    row_bytes = q.shape[0] * q.shape[1] * q.shape[-1] * 4
    return max(1, CHUNK_BYTES.get(q.device.type, DEFAULT_CHUNK_BYTES) // row_bytes)


def _key_statistics(phi_k: torch.Tensor, v: torch.Tensor, rotation: Optional[TokenRotation], start: int,
                    stop: int) -> torch.Tensor:
    """sum_j [rot_j phi(k_j)] v_j^T beside sum_j phi(k_j) over keys start:stop, (B, H, D, dv + 1)."""
    numerator_keys = phi_k if rotation is None else rotation(phi_k, start, stop)
    return torch.cat([torch.matmul(numerator_keys.transpose(-2, -1), v), phi_k.sum(dim=-2).unsqueeze(-1)], dim=-1)


def _numerator_and_denominator(phi_q: torch.Tensor, kvz: torch.Tensor, rotation: Optional[TokenRotation],
                               start: int, stop: int):
    """Queries start:stop against the mean statistics: (numerator, denominator without eps)."""
    dv = kvz.shape[-1] - 1
    if rotation is None:  # the same features on both sides: one matmul
        num_den = torch.matmul(phi_q, kvz)
        return num_den[..., :dv], num_den[..., dv:]
    return torch.matmul(rotation(phi_q, start, stop), kvz[..., :dv]), torch.matmul(phi_q, kvz[..., dv:])


def _whole_sequence(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, phi_q: FeatureMap, phi_k: FeatureMap,
                    eps: float, rotation: Optional[TokenRotation]) -> torch.Tensor:
    """The whole-sequence form, for autograd."""
    acc = accumulation_dtype(v.dtype)
    N, M = q.shape[-2], k.shape[-2]
    with torch.autocast(q.device.type, enabled=False):
        kvz = _key_statistics(phi_k(k.to(acc)), v.to(acc), rotation, 0, M) / M
        num, den = _numerator_and_denominator(phi_q(q.to(acc)), kvz, rotation, 0, N)
        return (num / (den + eps)).to(v.dtype)


def _chunked(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, phi_q: FeatureMap, phi_k: FeatureMap, eps: float,
             rotation: Optional[TokenRotation]) -> torch.Tensor:
    """Inference: phi, rotation and both passes over the tokens one chunk at a time (see linear_attention)."""
    acc = accumulation_dtype(v.dtype)
    B, H, N, dv = q.shape[0], q.shape[1], q.shape[2], v.shape[-1]
    M = k.shape[-2]
    chunk = _chunk_tokens(q)
    kvz = None  # (B, H, D, dv + 1): sum_j [rot_j phi(k_j) v_j^T | phi(k_j)]; D is phi's output width
    for start in range(0, M, chunk):
        stop = min(start + chunk, M)
        with torch.autocast(q.device.type, enabled=False):
            stats = _key_statistics(phi_k(k[:, :, start:stop].to(acc)), v[:, :, start:stop].to(acc), rotation,
                                    start, stop)
            kvz = stats if kvz is None else kvz.add_(stats)
    kvz /= M
    out = torch.empty(B, N, H, dv, dtype=v.dtype, device=v.device).transpose(1, 2)
    for start in range(0, N, chunk):
        stop = min(start + chunk, N)
        with torch.autocast(q.device.type, enabled=False):
            num, den = _numerator_and_denominator(phi_q(q[:, :, start:stop].to(acc)), kvz, rotation, start, stop)
            torch.div(num, den + eps, out=out[:, :, start:stop])
    return out


def linear_attention_naive(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                           eps: float = 1e-6) -> torch.Tensor:
    """Reference for :func:`linear_attention` through the explicit N x M score matrix.

    Computes A = phi(q) phi(k)^T / M in float32 (float64 for float64 inputs; autocast
    disabled), then out = A v / (A 1 + eps). Quadratic in memory: for tests only.
    """
    acc = accumulation_dtype(v.dtype)
    with torch.autocast(q.device.type, enabled=False):
        scores = torch.matmul(q.to(acc), k.to(acc).transpose(-2, -1)) / k.shape[-2]
        out = torch.matmul(scores, v.to(acc)) / (scores.sum(dim=-1, keepdim=True) + eps)
    return out.to(v.dtype)
