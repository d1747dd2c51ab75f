import pytest
import torch

from mmseg_adala.ops import FEATURE_MAPS, build_feature_map, softmax_attention, softmax_attention_naive

B, H, N, M, D = 2, 3, 33, 21, 16


def make_qkv(name=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, k = torch.randn(B, H, N, D, generator=g), torch.randn(B, H, M, D, generator=g)
    v = torch.randn(B, H, M, D + 4, generator=g)
    if name is not None:
        fmap = build_feature_map(name, H, D)
        q, k = fmap(q), fmap(k)
    return q, k, v


@pytest.mark.parametrize('name', [None, *sorted(FEATURE_MAPS)])
@pytest.mark.parametrize('scale', [None, 0.3])
def test_matches_naive_fp32(name, scale):
    q, k, v = make_qkv(name)
    out = softmax_attention(q, k, v, scale=scale)
    assert out.shape == (B, H, N, D + 4) and out.dtype == torch.float32
    torch.testing.assert_close(out, softmax_attention_naive(q, k, v, scale=scale), atol=1e-5, rtol=1e-5)


def test_default_scale_is_inverse_sqrt_head_dim():
    q, k, v = make_qkv()
    torch.testing.assert_close(softmax_attention(q, k, v), softmax_attention_naive(q, k, v, scale=D ** -0.5),
                               atol=1e-5, rtol=1e-5)
    # The reference applies its scale: a different one gives a different result.
    assert not torch.allclose(softmax_attention_naive(q, k, v), softmax_attention_naive(q, k, v, scale=1.0))


@pytest.mark.parametrize('dtype, atol', [(torch.bfloat16, 3e-2), (torch.float16, 4e-3)])
def test_half_precision_close_to_fp32(dtype, atol):
    q, k, v = make_qkv()
    out = softmax_attention(q.to(dtype), k.to(dtype), v.to(dtype))
    assert out.dtype == dtype
    torch.testing.assert_close(out.float(), softmax_attention_naive(q, k, v), atol=atol, rtol=0)


def test_autocast_bf16_close_to_fp32():
    q, k, v = make_qkv()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = softmax_attention(q, k, v)
    torch.testing.assert_close(out.float(), softmax_attention_naive(q, k, v), atol=3e-2, rtol=0)


def test_gradients_match_naive():
    inputs = [t.requires_grad_() for t in make_qkv()]
    grad_out = torch.randn(B, H, N, D + 4, generator=torch.Generator().manual_seed(1))
    grads = torch.autograd.grad(softmax_attention(*inputs), inputs, grad_out)
    grads_ref = torch.autograd.grad(softmax_attention_naive(*inputs), inputs, grad_out)
    for g, g_ref in zip(grads, grads_ref):
        torch.testing.assert_close(g, g_ref, atol=1e-5, rtol=1e-5)
