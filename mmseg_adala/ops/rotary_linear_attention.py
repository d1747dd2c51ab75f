"""Non-causal linear attention with rotary position embeddings (RoPE), with a quadratic reference.

RoFormer's linear-attention form (Su et al., arXiv 2104.09864, section 3.3, eq. 19): the
feature maps are rotated in the numerator only,

    out_i = sum_j [R_i phi(q_i)]^T [R_j phi(k_j)] v_j / sum_j phi(q_i)^T phi(k_j),

here in the mean-normalised form of :func:`linear_attention` (means over j, + eps below).
Why this form:

- the scores stay relative: R_i^T R_j = R_{j-i} for RoPE's commuting block rotations, also
  for 2-D RoPE (DINOv3's axial sin/cos over y and x), so the numerator's weights depend on
  phi(q_i), phi(k_j) and the offset j - i only;
- the normaliser stays positive: phi >= 0 and it is not rotated, whereas rotated features
  can have negative inner products (a sum near 0 or below would blow the output up);
- the rotation comes after phi: rotating q, k before a non-linear phi would make
  phi(R_i q)^T phi(R_j k) depend on i and j themselves, not on j - i.

Vision linear attention with 2-D RoPE does the same: MLLA (Han et al., NeurIPS 2024,
"Demystify Mamba in Vision") rotates ELU + 1 features for K^T V and keeps the normaliser
phi(q) . mean phi(k) rotation-free. The numerator's weights may be negative, so the output is
not a convex combination of the values; RoFormer accepts this for the same reasons.

The rope tensor is timm's: ``rope.get_embed(shape=(H, W))`` of an Eva model, sin and cos
concatenated, (..., N - num_prefix_tokens, 2 r), applied with ``timm.layers.apply_rot_embed_cat``
to the patch tokens; prefix tokens (cls, registers) are not rotated, as in timm's
``EvaAttention``. A feature map of width D = m r (Hedgehog's 2d) is rotated block by block:
each r-wide block of phi by the same R_i, which is again a rotation, so all of the above holds.
"""
from __future__ import annotations

from typing import Optional

import torch
from timm.layers import apply_rot_embed_cat

from .linear_attention import FeatureMap, accumulation_dtype, evaluate_linear_attention


def apply_rope(x: torch.Tensor, rope: torch.Tensor, rotate_half: bool = False,
               num_prefix_tokens: int = 0) -> torch.Tensor:
    """Rotate the patch tokens of x as timm's ``EvaAttention`` does its q and k.

    Args:
        x: (B, H, N, D) with N = num_prefix_tokens + patches and D a multiple of r.
        rope: (..., N - num_prefix_tokens, 2 r): sin then cos, broadcast over x's leading dims.
        rotate_half: timm's ``rotate_half`` layout (rotate the two halves of each block, as
            DINOv3 does) instead of adjacent pairs.
        num_prefix_tokens: leading tokens left as they are.

    Returns:
        x rotated, in x's dtype.
    """
    _check_rope(x, rope, num_prefix_tokens)
    return _rotate(x, _rope_rows(rope, num_prefix_tokens, 0, x.shape[-2]), rotate_half)


def rotary_linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rope: torch.Tensor,
                            feature_map: Optional[FeatureMap] = None, eps: float = 1e-6,
                            key_map: Optional[FeatureMap] = None, rotate_half: bool = False,
                            num_prefix_tokens: int = 0) -> torch.Tensor:
    """RoFormer's rotary linear attention (see the module docstring) in O(N D dv) time.

    As :func:`linear_attention`: phi, the rotation and the statistics mean_j R_j phi(k_j) v_j^T
    and mean_j phi(k_j) are in float32 (float64 for float64 v) with autocast off; without
    autograd the tokens go through in chunks, so no full-size phi, rotated phi or numerator
    exists (the rope's prefix rows are made per chunk too) and the output is laid out in
    memory as (B, N, H, dv).

    Args:
        q: queries, (B, H, N, dk); already feature-mapped (non-negative) if no `feature_map`.
        k: keys, (B, H, N, dk); likewise (self-attention: the same tokens as q).
        v: values, (B, H, N, dv).
        rope: timm's sin/cos embedding of the patch tokens, (..., N - num_prefix_tokens, 2 r),
            with phi's output width a multiple of r.
        feature_map: phi of the queries (and of the keys without `key_map`), token by token.
        eps: added to the mean-normalised denominator (eps * N in the sum form).
        key_map: phi of the keys where it is not the queries' (Hedgehog).
        rotate_half: timm's half-rotation layout (DINOv3) instead of adjacent pairs.
        num_prefix_tokens: leading tokens (cls, registers) that are not rotated.

    Returns:
        (B, H, N, dv) tensor in v's dtype.
    """
    if q.shape[-2] != k.shape[-2]:
        raise ValueError(f'rotary attention is self-attention: {q.shape[-2]} queries, {k.shape[-2]} keys')
    _check_rope(q, rope, num_prefix_tokens)
    rope = rope.to(accumulation_dtype(v.dtype))

    def rotation(features: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        return _rotate(features, _rope_rows(rope, num_prefix_tokens, start, stop), rotate_half)

    return evaluate_linear_attention(q, k, v, feature_map, key_map, eps, rotation)


def _check_rope(x: torch.Tensor, rope: torch.Tensor, num_prefix_tokens: int) -> None:
    if rope.shape[-2] != x.shape[-2] - num_prefix_tokens:
        raise ValueError(f'rope has {rope.shape[-2]} rows for {x.shape[-2]} tokens with '
                         f'{num_prefix_tokens} prefix tokens')


def _rope_rows(rope: torch.Tensor, num_prefix_tokens: int, start: int, stop: int) -> torch.Tensor:
    """Rows start:stop of the rope of all tokens: identity (sin 0, cos 1) for prefix tokens."""
    rows = rope[..., max(start - num_prefix_tokens, 0):max(stop - num_prefix_tokens, 0), :]
    prefix = max(min(stop, num_prefix_tokens) - start, 0)
    if not prefix:
        return rows
    r = rope.shape[-1] // 2
    identity = torch.cat([rope.new_zeros(r), rope.new_ones(r)])
    return torch.cat([identity.expand(*rope.shape[:-2], prefix, 2 * r), rows], dim=-2)


def _rotate(x: torch.Tensor, rope: torch.Tensor, rotate_half: bool) -> torch.Tensor:
    """Each r-wide block of x's last dimension rotated by ``apply_rot_embed_cat`` with the same rope."""
    r = rope.shape[-1] // 2
    if x.shape[-1] % r:
        raise ValueError(f'features of width {x.shape[-1]} are not blocks of the rope width {r}')
    return apply_rot_embed_cat(x.unflatten(-1, (-1, r)), rope.unsqueeze(-2), half=rotate_half).flatten(-2)


def rotary_linear_attention_naive(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rope: torch.Tensor,
                                  eps: float = 1e-6, rotate_half: bool = False,
                                  num_prefix_tokens: int = 0) -> torch.Tensor:
    """Reference for :func:`rotary_linear_attention` through explicit N x N matrices.

    With q, k already feature-mapped: the numerator's scores (R_i q_i)^T (R_j k_j) / N and
    the normaliser's q_i^T k_j / N as two N x N matrices, out = S_num v / (S_den 1 + eps).
    Float32 (float64 for float64 inputs; autocast disabled). Quadratic in memory: for tests only.
    """
    acc = accumulation_dtype(v.dtype)
    with torch.autocast(q.device.type, enabled=False):
        q, k, v, rope = q.to(acc), k.to(acc), v.to(acc), rope.to(acc)
        q_rot, k_rot = (apply_rope(x, rope, rotate_half, num_prefix_tokens) for x in (q, k))
        numerator = torch.matmul(q_rot, k_rot.transpose(-2, -1)) / k.shape[-2]
        normaliser = torch.matmul(q, k.transpose(-2, -1)) / k.shape[-2]
        out = torch.matmul(numerator, v) / (normaliser.sum(dim=-1, keepdim=True) + eps)
    return out.to(v.dtype)
