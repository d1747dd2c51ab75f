import math

import pytest
import torch
import torch.nn.functional as F

from mmseg_adala.ops import (FEATURE_MAPS, EluFeatureMap, FocusedFeatureMap, HedgehogFeatureMap,
                             ReluFeatureMap, build_feature_map)

B, H, N, D = 2, 3, 7, 8


def randn(*shape, scale=1.0, dtype=torch.float32, seed=0):
    return scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_elu_and_relu_match_hand_values():
    x = torch.tensor([-1.0, 0.0, 2.0]).view(1, 1, 1, 3)
    torch.testing.assert_close(EluFeatureMap()(x).flatten(), torch.tensor([math.exp(-1), 1.0, 3.0]))
    torch.testing.assert_close(ReluFeatureMap()(x).flatten(), torch.tensor([0.0, 0.0, 2.0]))


@pytest.mark.parametrize('name', sorted(FEATURE_MAPS))
def test_outputs_are_non_negative(name):
    out = build_feature_map(name, H, D)(randn(B, H, N, D, scale=3))
    assert out.shape == (B, H, N, 2 * D if name == 'hedgehog' else D)
    assert (out >= 0).all()


def _flatten_focusing_reference(x, scale, power, eps=1e-6):
    """FLatten's focusing function on (B, N, C) tokens, before the split into heads:
    f_p(x) = ||x|| / ||x**p|| x**p with x = (ReLU(x) + eps) / softplus(s)."""
    x = (F.relu(x) + eps) / F.softplus(scale)
    return x.norm(dim=-1, keepdim=True) / (x ** power).norm(dim=-1, keepdim=True) * x ** power


def _heads(x):
    """(B, N, H * D) -> (B, H, N, D), the layout of q and k in the attention layer."""
    return x.reshape(x.shape[0], x.shape[1], H, D).transpose(1, 2)


def test_focused_matches_flatten_formula_over_all_channels():
    tokens = randn(B, N, H * D, scale=3, dtype=torch.float64)
    fmap = FocusedFeatureMap(H, D, power=3).double()
    scale = torch.zeros(H * D, dtype=torch.float64)  # FLatten's initial scale: softplus(0) = ln 2
    torch.testing.assert_close(fmap(_heads(tokens)), _heads(_flatten_focusing_reference(tokens, scale, 3)))
    with torch.no_grad():
        fmap.scale.copy_(randn(H, 1, D, seed=3, dtype=torch.float64))
    scale = fmap.scale.detach().reshape(H * D)  # head h's channels are h * D .. (h + 1) * D - 1
    out = fmap(_heads(tokens))
    torch.testing.assert_close(out, _heads(_flatten_focusing_reference(tokens, scale, 3)))
    # The norm is kept over the whole token, not per head.
    scaled = (F.relu(tokens) + 1e-6) / F.softplus(scale)
    torch.testing.assert_close(out.square().sum(dim=(1, 3)).sqrt(), scaled.norm(dim=-1))
    assert not torch.allclose(out.norm(dim=-1), _heads(scaled).norm(dim=-1))
    # p = 1 is ReLU + eps over the learned scale.
    torch.testing.assert_close(FocusedFeatureMap(H, D, power=1).double()(_heads(tokens)),
                               _heads((F.relu(tokens) + 1e-6) / math.log(2)))


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16, torch.float32])
def test_focused_is_finite_at_extremes(dtype):
    # All-negative tokens (x**p ~ eps**p underflows) and large tokens (x**3 overflows fp16).
    x = torch.stack([torch.full((H * D,), -5.0), torch.linspace(0, 100, H * D)])[None]  # (1, 2 tokens, C)
    out = FocusedFeatureMap(H, D, power=3)(_heads(x.to(dtype)))
    assert torch.isfinite(out).all()
    expected = _heads(_flatten_focusing_reference(x.double(), torch.zeros(H * D, dtype=torch.float64), 3))
    # atol: fp16 holds the all-negative token's eps / ln 2 = 1.4e-6 as a subnormal, in steps of 6e-8
    torch.testing.assert_close(out.double(), expected, rtol=2e-2, atol=1e-7)


def test_hedgehog_identity_init_is_softmax_pair():
    x = randn(B, H, N, D)
    out = HedgehogFeatureMap(H, D)(x)
    assert out.shape == (B, H, N, 2 * D)
    torch.testing.assert_close(out, torch.cat([x.softmax(-1), (-x).softmax(-1)], dim=-1))
    torch.testing.assert_close(out[..., :D].sum(-1), torch.ones(B, H, N))
    torch.testing.assert_close(out[..., D:].sum(-1), torch.ones(B, H, N))


def test_hedgehog_applies_one_linear_map_per_head():
    fmap = HedgehogFeatureMap(H, D)
    assert fmap.weight.shape == (H, D, D) and fmap.bias.shape == (H, 1, D)
    assert not fmap.bias.any()
    with torch.no_grad():
        fmap.weight.copy_(randn(H, D, D, seed=1))
        fmap.bias.copy_(randn(H, 1, D, seed=2))
    x = randn(B, H, N, D)
    z = torch.einsum('bhnd,hde->bhne', x, fmap.weight) + fmap.bias
    out = fmap(x)
    torch.testing.assert_close(out, torch.cat([z.softmax(-1), (-z).softmax(-1)], dim=-1))
    out.sum().backward()
    assert fmap.weight.grad is not None and fmap.bias.grad is not None


def test_hedgehog_bias_is_optional():
    assert HedgehogFeatureMap(H, D, bias=False).bias is None


@pytest.mark.parametrize('name', ['elu', 'focused', 'hedgehog'])
def test_feature_map_gradcheck(name):
    fmap = build_feature_map(name, 2, 4).double()
    x = randn(1, 2, 3, 4, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(fmap, (x,))


@pytest.mark.parametrize('name', sorted(FEATURE_MAPS))
def test_build_feature_map_builds_registered_class(name):
    assert type(build_feature_map(name, H, D)) is FEATURE_MAPS[name]


def test_build_feature_map_passes_kwargs():
    assert build_feature_map('focused', H, D, power=2).power == 2
    assert build_feature_map('hedgehog', H, D, bias=False).bias is None


def test_build_feature_map_unknown_name_lists_valid_names():
    with pytest.raises(ValueError) as info:
        build_feature_map('cosine', H, D)
    for name in ('elu', 'relu', 'focused', 'hedgehog'):
        assert name in str(info.value)


@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16, torch.float16])
def test_elu_inference_and_autograd_forms_match_the_exact_map(dtype):
    """In place without autograd, torch.where with it: both exp(x) for x <= 0 and x + 1 above,
    with the dtype's relative precision everywhere (F.elu(x) + 1 loses it to the + 1)."""
    fmap = EluFeatureMap()
    x = randn(B, H, 64, D, scale=4).to(dtype)
    exact = torch.where(x.double() > 0, x.double() + 1, x.double().exp())
    with torch.no_grad():
        inference = fmap(x)
    training = fmap(x.clone().requires_grad_())
    assert training.requires_grad
    rtol = 1e-2 if dtype != torch.float32 else 1e-6
    torch.testing.assert_close(inference.double(), exact, rtol=rtol, atol=torch.finfo(dtype).tiny)
    torch.testing.assert_close(training.detach().double(), exact, rtol=rtol, atol=torch.finfo(dtype).tiny)
    with torch.no_grad():  # ELU + 1 rounds these to 0 in float32
        assert torch.equal(fmap(torch.tensor([-20.0, -80.0])), torch.tensor([-20.0, -80.0]).exp())
