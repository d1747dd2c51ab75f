import importlib

import pytest
import timm
import torch
from test_linear_attention import peak_cpu_memory

from mmseg_adala.ops import (FEATURE_MAPS, apply_rope, build_feature_map, linear_attention, rotary_linear_attention,
                             rotary_linear_attention_naive)

B, H, D, P = 2, 2, 24, 5  # head_dim of the tiny DINOv3 below; cls + 4 registers
GRID = (3, 5)


@pytest.fixture(scope='module')
def dinov3_rope():
    """The rope of timm's DINOv3 (half layout) for the patch grid of ``GRID``."""
    model = timm.create_model('vit_small_patch16_dinov3', pretrained=False, embed_dim=H * D, depth=1,
                              num_heads=H).eval()
    return model.rope.get_embed(shape=GRID)


def axial_rope(positions, r, rotate_half, dtype=torch.float64):
    """A 2-D axial rope (DINOv3's scheme): the first half of the r / 2 angles follow y, the rest x.

    Args:
        positions: (N, 2) float (y, x) coordinates.
        r: rotated width (the head dimension).
        rotate_half: timm's half layout (angles repeated) instead of interleaved pairs.
    """
    omega = 1.7 ** -torch.arange(r // 4, dtype=dtype)
    angles = torch.cat([positions[:, :1] * omega, positions[:, 1:] * omega], dim=-1)  # (N, r / 2)
    layout = (lambda a: torch.cat([a, a], dim=-1)) if rotate_half else (lambda a: a.repeat_interleave(2, dim=-1))
    return torch.cat([layout(angles.sin()), layout(angles.cos())], dim=-1)


def grid_positions(rows, cols, dtype=torch.float64):
    ys, xs = torch.meshgrid(torch.arange(rows, dtype=dtype), torch.arange(cols, dtype=dtype), indexing='ij')
    return torch.stack([ys.flatten(), xs.flatten()], dim=-1)


def rotation_matrices(rope, rotate_half):
    """(N, r, r) explicit rotations of a rope: 2 x 2 blocks on pairs (i, i + r/2) or (2i, 2i + 1)."""
    r = rope.shape[-1] // 2
    sin, cos = rope[:, :r], rope[:, r:]
    R = torch.zeros(rope.shape[0], r, r, dtype=rope.dtype)
    for i in range(r // 2):
        a, b = (i, i + r // 2) if rotate_half else (2 * i, 2 * i + 1)
        R[:, a, a], R[:, a, b], R[:, b, a], R[:, b, b] = cos[:, a], -sin[:, a], sin[:, a], cos[:, a]
    return R


def make_qkv(n, d=D, dv=D + 4, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(B, H, n, w, generator=g, dtype=torch.float64).to(dtype) for w in (d, d, dv))


@pytest.mark.parametrize('rotate_half', [True, False])
@pytest.mark.parametrize('blocks', [1, 2])
def test_apply_rope_rotates_each_block_of_the_patch_tokens(rotate_half, blocks):
    """Against explicit rotation matrices; blocks=2 is a Hedgehog-wide (2d) feature."""
    rope = axial_rope(torch.rand(15, 2, dtype=torch.float64) * 10, D, rotate_half)
    x = torch.randn(B, H, P + 15, blocks * D, dtype=torch.float64)
    out = apply_rope(x, rope, rotate_half, num_prefix_tokens=P)
    R = rotation_matrices(rope, rotate_half)
    expected = torch.cat([torch.einsum('nab,xynb->xyna', R, block) for block in x[:, :, P:].split(D, dim=-1)], -1)
    torch.testing.assert_close(out[:, :, P:], expected)
    torch.testing.assert_close(out[:, :, :P], x[:, :, :P], rtol=0, atol=0)


@pytest.mark.parametrize('name', sorted(FEATURE_MAPS))
@pytest.mark.parametrize('path', ['chunked inference', 'autograd'])
@pytest.mark.parametrize('dtype, tol', [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_matches_naive_with_dinov3_rope(monkeypatch, device, dinov3_rope, name, path, dtype, tol):
    module = importlib.import_module('mmseg_adala.ops.linear_attention')
    monkeypatch.setitem(module.CHUNK_BYTES, device, 3 * B * H * D * 4)  # chunks of 3: across the prefix boundary
    q, k, v = make_qkv(P + GRID[0] * GRID[1], dtype=dtype)
    fmap = build_feature_map(name, H, D).to(dtype)
    with torch.no_grad():
        expected = rotary_linear_attention_naive(fmap(q), fmap(k), v, dinov3_rope, rotate_half=True,
                                                 num_prefix_tokens=P)
    q, k, v, rope, fmap = (x.to(device) for x in (q, k, v, dinov3_rope, fmap))
    with torch.set_grad_enabled(path == 'autograd'):
        out = rotary_linear_attention(q.requires_grad_(path == 'autograd'), k, v, rope, feature_map=fmap,
                                      rotate_half=True, num_prefix_tokens=P)
    assert out.dtype == dtype and out.transpose(1, 2).is_contiguous() == (path != 'autograd')
    torch.testing.assert_close(out.cpu(), expected, atol=tol, rtol=tol)


def test_gradients_match_naive(dinov3_rope):
    q, k, v = (t.requires_grad_() for t in make_qkv(P + GRID[0] * GRID[1]))
    fmap = build_feature_map('elu', H, D)
    grad_out = torch.randn(B, H, q.shape[2], D + 4, dtype=torch.float64)
    grads = torch.autograd.grad(rotary_linear_attention(q, k, v, dinov3_rope, fmap, rotate_half=True,
                                                        num_prefix_tokens=P), (q, k, v), grad_out)
    expected = torch.autograd.grad(rotary_linear_attention_naive(fmap(q), fmap(k), v, dinov3_rope, rotate_half=True,
                                                                 num_prefix_tokens=P), (q, k, v), grad_out)
    for g, g_ref in zip(grads, expected):
        torch.testing.assert_close(g, g_ref)


@pytest.mark.parametrize('path', ['chunked inference', 'autograd'])
def test_identity_rope_is_plain_linear_attention(monkeypatch, path):
    module = importlib.import_module('mmseg_adala.ops.linear_attention')
    monkeypatch.setitem(module.CHUNK_BYTES, 'cpu', 4 * B * H * D * 4)
    q, k, v = make_qkv(P + 15)
    identity = torch.cat([torch.zeros(15, D // 2), torch.ones(15, D // 2)], dim=-1).double()  # sin 0, cos 1
    fmap = build_feature_map('hedgehog', H, D).double()  # 2d wide: both blocks rotated by the identity
    with torch.set_grad_enabled(path == 'autograd'):
        out = rotary_linear_attention(q, k, v, identity, fmap, num_prefix_tokens=P)
        torch.testing.assert_close(out, linear_attention(q, k, v, fmap))


@pytest.mark.parametrize('rotate_half', [True, False])
@pytest.mark.parametrize('path', ['chunked inference', 'autograd'])
def test_output_depends_on_relative_positions_only(rotate_half, path):
    """Shifting every position by one 2-D offset leaves the output as it is (R_i^T R_j = R_{j-i}).

    Without prefix tokens: those are not rotated (as in timm), so their scores with the patches
    depend on the patches' absolute positions."""
    q, k, v = (t.requires_grad_(path == 'autograd') for t in make_qkv(12))
    positions = grid_positions(3, 4)
    fmap = build_feature_map('elu', H, D)

    def attend(pos):
        return rotary_linear_attention(q, k, v, axial_rope(pos, D, rotate_half), fmap, rotate_half=rotate_half)

    out = attend(positions)
    torch.testing.assert_close(attend(positions + torch.tensor([7.25, -3.5], dtype=torch.float64)), out)
    assert not torch.allclose(attend(2 * positions), out, atol=1e-3)  # positions do matter
    # Rotating q, k before phi (instead of phi's output) loses the property: phi(R_i q) depends on i.
    def rotate_then_map(pos):
        rope = axial_rope(pos, D, rotate_half)
        q_rot, k_rot = (apply_rope(x, rope, rotate_half) for x in (q, k))
        return linear_attention(q_rot, k_rot, v, fmap)
    assert not torch.allclose(rotate_then_map(positions + torch.tensor([7.25, -3.5], dtype=torch.float64)),
                              rotate_then_map(positions), atol=1e-3)


def test_bf16_under_autocast_accumulates_in_float32(dinov3_rope):
    q, k, v = make_qkv(P + 15, dtype=torch.float32)
    fmap = build_feature_map('elu', H, D)
    expected = rotary_linear_attention_naive(fmap(q), fmap(k), v, dinov3_rope, rotate_half=True, num_prefix_tokens=P)
    with torch.autocast('cpu', dtype=torch.bfloat16), torch.no_grad():
        out_fp32 = rotary_linear_attention(q, k, v, dinov3_rope, fmap, rotate_half=True, num_prefix_tokens=P)
        out = rotary_linear_attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), dinov3_rope, fmap, rotate_half=True,
                                      num_prefix_tokens=P)
    assert out_fp32.dtype == torch.float32 and out.dtype == torch.bfloat16
    torch.testing.assert_close(out_fp32, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.float(), expected, atol=3e-2, rtol=0)


def test_chunked_inference_allocates_little_more_than_its_output(monkeypatch):
    """phi, rotated phi and the numerator exist a chunk at a time; so do the prefix's identity rows."""
    module = importlib.import_module('mmseg_adala.ops.linear_attention')
    monkeypatch.setitem(module.CHUNK_BYTES, 'cpu', 256 * 2 * 16 * 4)  # 256 tokens of (1, 2, ., 16)
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, 8192 + P, 16, generator=g) for _ in range(3))
    rope = axial_rope(torch.rand(8192, 2) * 90, 16, True, dtype=torch.float32)
    fmap = build_feature_map('elu', 2, 16)
    with torch.no_grad():
        peak = peak_cpu_memory(rotary_linear_attention, q, k, v, rope, fmap, 1e-6, None, True, P)
    assert peak < 1.2 * q.numel() * 4


def test_rope_must_fit_the_tokens_and_the_feature_width():
    q, k, v = make_qkv(P + 15)
    rope = axial_rope(grid_positions(3, 5), D, True)
    with pytest.raises(ValueError, match='rope has 15 rows'):
        rotary_linear_attention(q, k, v, rope, num_prefix_tokens=1)
    with pytest.raises(ValueError, match='not blocks of the rope width'):
        rotary_linear_attention(q, k, v, axial_rope(grid_positions(3, 5), 16, True), num_prefix_tokens=P)
