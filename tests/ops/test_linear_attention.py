import copy
import importlib

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from mmseg_adala.ops import FEATURE_MAPS, build_feature_map, linear_attention, linear_attention_naive

B, H, N, M, D = 2, 3, 33, 21, 16


def make_qkv(name='elu', n=N, m=M, d=D, dv=D + 4, dtype=torch.float32, scale=1.0, seed=0):
    """Feature-mapped q, k and raw v; q, k ~ N(0, scale**2), v ~ N(0, 1)."""
    g = torch.Generator().manual_seed(seed)
    q = scale * torch.randn(B, H, n, d, generator=g)
    k = scale * torch.randn(B, H, m, d, generator=g)
    v = torch.randn(B, H, m, dv, generator=g)
    fmap = build_feature_map(name, H, d).to(dtype)
    return fmap(q.to(dtype)), fmap(k.to(dtype)), v.to(dtype)


@pytest.mark.parametrize('name', sorted(FEATURE_MAPS))
@pytest.mark.parametrize('n, m', [(N, M), (M, M)])
def test_matches_naive_fp32(name, n, m):
    q, k, v = make_qkv(name, n, m)
    out = linear_attention(q, k, v)
    assert out.shape == (B, H, n, D + 4) and out.dtype == torch.float32
    torch.testing.assert_close(out, linear_attention_naive(q, k, v), atol=1e-5, rtol=1e-5)


def test_eps_is_added_to_the_mean_normalised_denominator():
    q, k, v = (t.double() for t in make_qkv())
    eps = 0.1
    scores = q @ k.transpose(-2, -1)
    sum_form = scores @ v / (scores.sum(-1, keepdim=True) + eps * M)
    torch.testing.assert_close(linear_attention(q, k, v, eps=eps), sum_form)
    torch.testing.assert_close(linear_attention_naive(q, k, v, eps=eps), sum_form)


@pytest.mark.parametrize('name', sorted(FEATURE_MAPS))
@pytest.mark.parametrize('dtype, atol', [(torch.bfloat16, 2e-2), (torch.float16, 2e-3)])
def test_half_precision_close_to_fp32(name, dtype, atol):
    q, k, v = make_qkv(name)
    out = linear_attention(q.to(dtype), k.to(dtype), v.to(dtype))
    assert out.dtype == dtype
    torch.testing.assert_close(out.float(), linear_attention_naive(q, k, v), atol=atol, rtol=0)


def test_autocast_keeps_float32_accumulation():
    q, k, v = make_qkv()
    ref = linear_attention_naive(q, k, v)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = linear_attention(q, k, v)
        out_bf16 = linear_attention(q.bfloat16(), k.bfloat16(), v.bfloat16())
    # fp32 inputs stay fp32 end to end: same result as without autocast.
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    assert out_bf16.dtype == torch.bfloat16
    torch.testing.assert_close(out_bf16.float(), out, atol=2e-2, rtol=0)


def test_gradcheck():
    g = torch.Generator().manual_seed(0)
    q, k = (torch.rand(1, 2, 5, 3, generator=g, dtype=torch.float64) + 0.1 for _ in range(2))
    v = torch.randn(1, 2, 5, 4, generator=g, dtype=torch.float64)
    assert torch.autograd.gradcheck(linear_attention, (q.requires_grad_(), k.requires_grad_(), v.requires_grad_()))


@pytest.mark.parametrize('name', sorted(FEATURE_MAPS))
def test_gradients_match_naive(name):
    inputs = [t.detach().requires_grad_() for t in make_qkv(name)]
    grad_out = torch.randn(B, H, N, D + 4, generator=torch.Generator().manual_seed(1))
    grads = torch.autograd.grad(linear_attention(*inputs), inputs, grad_out)
    grads_ref = torch.autograd.grad(linear_attention_naive(*inputs), inputs, grad_out)
    for g, g_ref in zip(grads, grads_ref):
        torch.testing.assert_close(g, g_ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('name', ['elu', 'focused'])
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_100k_tokens_half_precision(name, dtype):
    """Finite and within 1% of fp32 beyond a 4096^2 image's 85,850 tokens (ViT-L/14)."""
    n = 100_000
    g = torch.Generator().manual_seed(0)
    q, k = (3 * torch.randn(1, 2, n, 16, generator=g) for _ in range(2))
    v = torch.randn(1, 2, n, 16, generator=g)
    fmap = build_feature_map(name, 2, 16)
    q16, k16, v16 = q.to(dtype), k.to(dtype), v.to(dtype)
    # The regime the means guard against: the plain sum of phi(k) is beyond fp16's range.
    assert fmap(k16).float().sum(-2).max() > torch.finfo(torch.float16).max
    ref = linear_attention(q16.float(), k16.float(), v16.float(), feature_map=fmap)
    # Both paths: the map applied outside on whole tensors, and inside chunk by chunk.
    for out in (linear_attention(fmap(q16), fmap(k16), v16), linear_attention(q16, k16, v16, feature_map=fmap)):
        assert out.dtype == dtype and torch.isfinite(out).all()
        assert ((out.float() - ref).norm() / ref.norm()).item() < 1e-2


def peak_cpu_memory(fn, *args):
    """Peak bytes allocated while fn runs: running sum of the profiler's per-op memory deltas."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True, acc_events=True) as prof:
        fn(*args)
    live = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        live += event.self_cpu_memory_usage
        peak = max(peak, live)
    return peak


@pytest.mark.parametrize('fn, n, lo, hi', [(linear_attention, 4096, 3, 6),
                                           (linear_attention_naive, 1024, 12, 20)])
def test_peak_memory_scaling(fn, n, lo, hi):
    # The naive reference shows the measure sees an N x N matrix (16x); linear attention is ~4x.
    def run(tokens):
        g = torch.Generator().manual_seed(0)
        q, k, v = (torch.rand(1, 2, tokens, 16, generator=g) for _ in range(3))
        return peak_cpu_memory(fn, q, k, v)

    assert lo < run(4 * n) / run(n) < hi


@pytest.mark.parametrize('requires_grad', [False, True])
def test_both_paths_match_reference_and_layout(requires_grad):
    """Inference writes (B, N, H, d) memory (free transpose for the caller); autograd stays exact."""
    q, k = (torch.rand(2, 3, 50, 8, requires_grad=requires_grad) for _ in range(2))
    v = torch.randn(2, 3, 50, 8, requires_grad=requires_grad)
    out = linear_attention(q, k, v)
    torch.testing.assert_close(out, linear_attention_naive(q, k, v), atol=1e-5, rtol=1e-5)
    assert out.transpose(1, 2).is_contiguous() != requires_grad


@pytest.mark.parametrize('name', sorted(FEATURE_MAPS))
@pytest.mark.parametrize('dtype, atol', [(torch.float32, 1e-5), (torch.bfloat16, 2e-2)])
def test_chunked_inference_matches_reference(monkeypatch, device, name, dtype, atol):
    """Inference maps and accumulates chunk by chunk (here 5 tokens, uneven last chunks)."""
    module = importlib.import_module('mmseg_adala.ops.linear_attention')  # the package exports the function
    g = torch.Generator().manual_seed(0)
    q, k = (torch.randn(B, H, n, D, generator=g).to(dtype) for n in (N, M))
    v = torch.randn(B, H, M, D + 4, generator=g).to(dtype)
    fmap = build_feature_map(name, H, D).to(dtype)
    with torch.no_grad():
        ref = linear_attention_naive(fmap(q).float(), fmap(k).float(), v.float())
    q, k, v, fmap = (x.to(device) for x in (q, k, v, fmap))
    with torch.no_grad():
        monkeypatch.setitem(module.CHUNK_BYTES, device, 5 * B * H * D * 4)
        out = linear_attention(q, k, v, feature_map=fmap)
    assert out.dtype == dtype and out.transpose(1, 2).is_contiguous()
    torch.testing.assert_close(out.float().cpu(), ref, atol=atol, rtol=0)
    # With autograd on, a learned map's parameters get gradients (the whole-sequence path).
    out_grad = linear_attention(q, k, v, feature_map=fmap)
    torch.testing.assert_close(out_grad.float().cpu(), ref, atol=atol, rtol=0)
    assert out_grad.requires_grad == any(p.requires_grad for p in fmap.parameters())


def test_chunked_inference_allocates_little_more_than_its_output(monkeypatch):
    """phi(q), phi(k) and the numerator exist a chunk at a time, never at full size."""
    module = importlib.import_module('mmseg_adala.ops.linear_attention')
    monkeypatch.setitem(module.CHUNK_BYTES, 'cpu', 256 * 2 * 16 * 4)  # 256 tokens of (1, 2, ., 16)
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, 8192, 16, generator=g) for _ in range(3))
    fmap = build_feature_map('elu', 2, 16)
    output_bytes = q.numel() * 4
    with torch.no_grad():
        chunked = peak_cpu_memory(linear_attention, q, k, v, fmap)
    whole = peak_cpu_memory(linear_attention, q.requires_grad_(), k, v, fmap)  # the whole-sequence path
    assert chunked < 1.2 * output_bytes
    assert whole > 3 * output_bytes  # phi(q), phi(k), numerator and output, all at full size for backward


@pytest.mark.parametrize('name', sorted(FEATURE_MAPS))
@pytest.mark.parametrize('path', ['chunked inference', 'autograd'])
def test_feature_map_is_float32_under_bf16_autocast(monkeypatch, name, path):
    """Under bf16 autocast the projections hand over bf16 q, k; phi must still be float32-accurate
    (ELU + 1's tail exp(x), Hedgehog's matmul and softmaxes), like the statistics it feeds."""
    module = importlib.import_module('mmseg_adala.ops.linear_attention')
    monkeypatch.setitem(module.CHUNK_BYTES, 'cpu', 5 * B * H * D * 4)  # several chunks of 5 tokens
    g = torch.Generator().manual_seed(0)
    q, k = (3 * torch.randn(B, H, n, D, generator=g).bfloat16() for n in (N, M))
    v = torch.randn(B, H, M, D, generator=g).bfloat16()
    fmap = build_feature_map(name, H, D)
    if name == 'hedgehog':  # a trained-looking map: the matmul then matters
        with torch.no_grad():
            fmap.weight.add_(torch.randn(H, D, D, generator=g) / D)
    reference = copy.deepcopy(fmap).double()
    calls = []
    fmap.register_forward_hook(lambda _, args, out: calls.append((args[0], out)))
    with torch.autocast('cpu', dtype=torch.bfloat16), torch.set_grad_enabled(path == 'autograd'):
        out = linear_attention(*(t.requires_grad_(path == 'autograd') for t in (q, k, v)), feature_map=fmap)
    assert out.dtype == torch.bfloat16
    assert sum(x.shape[-2] for x, _ in calls) == N + M and len(calls) == (2 if path == 'autograd' else 7 + 5)
    for x, phi_x in calls:
        assert x.dtype == phi_x.dtype == torch.float32
        # atol: ELU + 1 in autograd keeps float32's absolute, not relative, precision near 0
        torch.testing.assert_close(phi_x.double(), reference(x.double()), rtol=1e-5,
                                   atol=torch.finfo(torch.float32).eps)


@pytest.mark.parametrize('path', ['chunked inference', 'autograd'])
def test_separate_key_map_matches_reference(monkeypatch, path):
    """Hedgehog's q and k maps differ: each path maps q with one and k with the other."""
    module = importlib.import_module('mmseg_adala.ops.linear_attention')
    monkeypatch.setitem(module.CHUNK_BYTES, 'cpu', 5 * B * H * D * 4)  # 5 tokens a chunk
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(B, H, n, D, generator=g) for n in (N, M, M))
    query_map, key_map = build_feature_map('hedgehog', H, D), build_feature_map('hedgehog', H, D)
    with torch.no_grad():
        key_map.weight.normal_(generator=g)
        key_map.bias.normal_(generator=g)
    expected = linear_attention_naive(query_map(q), key_map(k), v)
    assert not torch.allclose(expected, linear_attention_naive(query_map(q), query_map(k), v), atol=1e-3)
    with torch.set_grad_enabled(path == 'autograd'):
        out = linear_attention(q, k, v, feature_map=query_map, key_map=key_map)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    if path == 'autograd':
        out.sum().backward()
        assert key_map.weight.grad.abs().sum() > 0 and query_map.weight.grad.abs().sum() > 0
