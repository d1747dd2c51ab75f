"""The linear kernels at a 4096-px image's token count in bf16 and fp16, against float64.

The regime of a GPU run: ViT-L/14 at 4096 px has 85,850 tokens (a 293 x 293 grid and the cls
token), and the q and k of real checkpoints (DINOv2-L) reach magnitudes of 30. Under autocast
the projections hand the kernels bf16 or fp16 q, k and v; outputs and gradients must then be
within a few roundings of the exact result on the same rounded inputs, computed in float64.
What would break that: ELU + 1 cancelling in the negative tail (a query whose channels are all
below -17 maps to 0 even in float32; flash-linear-attention issue 1261), sums over the tokens
that overflow fp16 (EfficientViT issues 15 and 110), and the small terms of most tokens lost
in half-precision accumulation. Few heads and a small head dimension keep this fast.
"""
import copy

import pytest
import torch
from test_rotary_linear_attention import axial_rope, grid_positions

from mmseg_adala.ops import (FEATURE_MAPS, EluFeatureMap, build_feature_map, linear_attention,
                             rotary_linear_attention, window_linear_attention)

GRID, PREFIX = (293, 293), 1  # ViT-L/14 at 4096 px
TOKENS = PREFIX + GRID[0] * GRID[1]
H, D = 2, 8
# Unit roundoff: the kernels accumulate in float32, so what is left is the output's rounding.
ROUNDOFF = {torch.bfloat16: 2 ** -8, torch.float16: 2 ** -11}
DTYPES = list(ROUNDOFF)


def dinov2_like_qkv(dtype, device, heads=H, seed=0):
    """q, k, v of (1, heads, TOKENS, D) rounded to `dtype`, with float64 copies of the rounded values.

    q and k: channels of scales from 1 to 30 (real q/k have a few large channels), uniform in
    [-scale, scale]; one token in a hundred has every channel in [-30, -17], where ELU + 1
    cancels to 0 even in float32. v: N(1, 2^2), an attention output far from 0.
    """
    g = torch.Generator().manual_seed(seed)
    scales = torch.logspace(0, torch.log10(torch.tensor(30.)), D, dtype=torch.float64)
    q, k = ((2 * torch.rand(1, heads, TOKENS, D, generator=g, dtype=torch.float64) - 1) * scales for _ in range(2))
    for x in (q, k):
        tail = torch.rand(TOKENS, generator=g) < 0.01
        x[:, :, tail] = -17 - 13 * torch.rand(1, heads, int(tail.sum()), D, generator=g, dtype=torch.float64)
    v = 1 + 2 * torch.randn(1, heads, TOKENS, D, generator=g, dtype=torch.float64)
    low = [x.to(dtype).to(device) for x in (q, k, v)]
    return low, [x.double() for x in low]


def exact_map(name, fmap):
    """phi in float64 for the references: ELU + 1 by its definition, the others as they are."""
    if name == 'elu':
        return lambda x: torch.where(x > 0, x + 1, x.clamp(max=0).exp())
    return copy.deepcopy(fmap).double().cpu()


def make_map(name, device, heads=H, seed=1):
    """A feature map with trained-looking parameters where it has any."""
    fmap = build_feature_map(name, heads, D)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in fmap.parameters():
            param.add_(torch.randn(param.shape, generator=g) / D)
    return fmap.to(device)


def assert_tokens_close(out, reference, dtype):
    """Every token's output within a few output roundings of the reference, relative to its norm
    (or to the dtype's smallest normal number, below which fp16 rounds to 0: a query with all its
    channels negative has an output of 1e-13 with some maps)."""
    assert out.dtype == dtype and torch.isfinite(out).all()
    error = (out.double() - reference).norm(dim=-1)
    relative = error / reference.norm(dim=-1).clamp(min=torch.finfo(dtype).tiny)
    assert relative.max().item() < 4 * ROUNDOFF[dtype], relative.max().item()


def assert_gradients_close(grads, references, dtype):
    """Each gradient within a few roundings of the reference's, in norm (the gradients are float32
    sums rounded to the inputs' dtype)."""
    for grad, reference in zip(grads, references):
        assert grad.dtype == dtype and torch.isfinite(grad).all()
        relative = ((grad.double() - reference).norm() / reference.norm()).item()
        assert relative < 4 * ROUNDOFF[dtype], relative


def run_both_paths(kernel, inputs, dtype, device):
    """(inference output, autograd output, gradients of q, k, v) under autocast to `dtype`."""
    grad_out = torch.randn(inputs[0].shape, generator=torch.Generator().manual_seed(2)).to(dtype).to(device)
    with torch.autocast(device, dtype=dtype):
        with torch.no_grad():
            inference = kernel(*inputs)
        leaves = [x.detach().requires_grad_() for x in inputs]
        trained = kernel(*leaves)
    trained.backward(grad_out)
    return inference, trained, [x.grad for x in leaves], grad_out.double()


def exact_gradients(kernel, inputs, grad_out):
    leaves = [x.detach().requires_grad_() for x in inputs]
    out = kernel(*leaves)
    return out.detach(), torch.autograd.grad(out, leaves, grad_out)


@pytest.mark.parametrize('name', sorted(FEATURE_MAPS))
@pytest.mark.parametrize('dtype', DTYPES, ids=str)
def test_linear_attention(device, name, dtype):
    (q, k, v), exact = dinov2_like_qkv(dtype, device)
    fmap = make_map(name, device)
    key_map = make_map(name, device, seed=3) if name == 'hedgehog' else None
    phi_q, phi_k = exact_map(name, fmap), exact_map(name, key_map) if key_map is not None else None
    if name in ('elu', 'focused'):  # the regime the means guard against: fp16 sums of phi(k) overflow
        assert phi_q(exact[1]).sum(-2).max() > torch.finfo(torch.float16).max
    inference, trained, grads, grad_out = run_both_paths(
        lambda *x: linear_attention(*x, feature_map=fmap, key_map=key_map), (q, k, v), dtype, device)
    reference, references = exact_gradients(
        lambda *x: linear_attention(*x, feature_map=phi_q, key_map=phi_k), [x.cpu() for x in exact], grad_out.cpu())
    for out in (inference, trained):
        assert_tokens_close(out.cpu(), reference, dtype)
    assert_gradients_close([g.cpu() for g in grads], references, dtype)


@pytest.mark.parametrize('name', sorted(FEATURE_MAPS))
@pytest.mark.parametrize('dtype', DTYPES, ids=str)
def test_rotary_linear_attention(device, name, dtype):
    (q, k, v), exact = dinov2_like_qkv(dtype, device)
    rope = axial_rope(grid_positions(*GRID), D, rotate_half=True)  # DINOv3's layout, float64
    fmap = make_map(name, device)
    phi = exact_map(name, fmap)

    def rotary(rope_rows, feature_map):
        return lambda *x: rotary_linear_attention(*x, rope_rows, feature_map=feature_map, rotate_half=True,
                                                  num_prefix_tokens=PREFIX)

    inference, trained, grads, grad_out = run_both_paths(rotary(rope.to(device, dtype), fmap), (q, k, v), dtype,
                                                         device)
    # The rope the model hands over is in the autocast dtype too: the reference takes the same values.
    reference, references = exact_gradients(rotary(rope.to(dtype).double(), phi), [x.cpu() for x in exact],
                                            grad_out.cpu())
    for out in (inference, trained):
        assert_tokens_close(out.cpu(), reference, dtype)
    assert_gradients_close([g.cpu() for g in grads], references, dtype)


@pytest.mark.slow
@pytest.mark.parametrize('name, dtype', [('hedgehog', torch.bfloat16), ('elu', torch.float16)])  # LoLCATs', the paper's
def test_window_linear_attention(device, name, dtype):
    """The linear part's raw sums over the 85k patches outside each window (no 1/N here) are
    far beyond fp16's range."""
    (q, k, v), exact = dinov2_like_qkv(dtype, device, heads=1)  # its float64 reference is the slowest
    fmap = make_map(name, device, heads=1)
    phi = exact_map(name, fmap)
    factor = torch.tensor([0.3])

    def hybrid(feature_map, window_factor):
        return lambda *x: window_linear_attention(*x, GRID, 8, feature_map, window_factor,
                                                  num_prefix_tokens=PREFIX)

    _, trained, grads, grad_out = run_both_paths(hybrid(fmap, factor.to(device)), (q, k, v), dtype, device)
    reference, references = exact_gradients(hybrid(phi, factor.double()), [x.cpu() for x in exact], grad_out.cpu())
    assert_tokens_close(trained.cpu(), reference, dtype)
    assert_gradients_close([g.cpu() for g in grads], references, dtype)


@pytest.mark.parametrize('dtype, x', [(torch.bfloat16, -8.), (torch.float16, -10.), (torch.float32, -20.)])
@pytest.mark.parametrize('grad', [False, True])
def test_elu_plus_one_keeps_its_tail(device, dtype, x, grad):
    """exp(x), not expm1(x) + 1, which is 0 here (bf16: elu(-8) + 1 == 0); the gradient is exp(x),
    and 1 at a large x, where exp(x) = inf in the branch not taken."""
    inputs = torch.tensor([x, 0., 100.], dtype=dtype, device=device).requires_grad_(grad)
    with torch.set_grad_enabled(grad):
        out = EluFeatureMap()(inputs)
    expected = torch.tensor([x, 0., 100.], dtype=torch.float64).clamp(max=0).exp() + torch.tensor([0., 0., 100.])
    # rtol: one rounding of a device's exp
    torch.testing.assert_close(out.double().cpu(), expected.to(dtype).double(), rtol=torch.finfo(dtype).eps, atol=0)
    if grad:
        out.sum().backward()
        gradient = torch.tensor([x, 0., 0.], dtype=torch.float64).exp()
        torch.testing.assert_close(inputs.grad.double().cpu(), gradient.to(dtype).double(), rtol=torch.finfo(dtype).eps,
                                   atol=0)
