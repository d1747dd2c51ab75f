import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from mmseg_adala.ops import (build_feature_map, softmax_attention_naive, window_attention, window_attention_naive,
                             window_linear_attention, window_linear_attention_naive, window_mask)

B, H, D = 2, 3, 8
# (grid, window, prefix tokens): windows that divide the grid, that do not (padding), a window
# of one patch, and registers (5 prefix tokens, as dinov2_vits14_reg).
CASES = [((4, 6), 2, 1), ((5, 7), 3, 1), ((6, 5), 4, 5), ((7, 7), 1, 1), ((3, 8), 3, 0)]


def make_qkv(grid, prefix, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    n = prefix + grid[0] * grid[1]
    return tuple((2 * torch.randn(B, H, n, D, generator=g)).to(dtype) for _ in range(3))


def test_window_mask_by_hand():
    # 1 prefix token and a 3x3 grid in 2x2 windows: windows {0,1,3,4}, {2,5}, {6,7}, {8}.
    mask = window_mask((3, 3), 2, num_prefix_tokens=1)
    assert mask[0].all() and mask[:, 0].all()
    windows = [[0, 1, 3, 4], [2, 5], [6, 7], [8]]
    expected = torch.zeros(9, 9, dtype=torch.bool)
    for window in windows:
        expected[torch.tensor(window)[:, None], torch.tensor(window)] = True
    assert torch.equal(mask[1:, 1:], expected)


@pytest.mark.parametrize('grid, window, prefix', CASES)
def test_window_attention_matches_naive(device, grid, window, prefix):
    q, k, v = make_qkv(grid, prefix)
    out = window_attention(*(x.to(device) for x in (q, k, v)), grid, window, prefix)
    torch.testing.assert_close(out.cpu(), window_attention_naive(q, k, v, grid, window, prefix))


@pytest.mark.parametrize('grid, window', [((4, 6), 6), ((5, 7), 7), ((3, 3), 8)])
def test_a_window_over_the_whole_grid_is_softmax_attention(grid, window):
    q, k, v = make_qkv(grid, 1)
    expected = softmax_attention_naive(q, k, v)
    torch.testing.assert_close(window_attention(q, k, v, grid, window, 1), expected)
    torch.testing.assert_close(window_attention_naive(q, k, v, grid, window, 1), expected)
    # The hybrid has no token outside the window, so nothing for its linear part either.
    phi = build_feature_map('hedgehog', H, D).double()
    torch.testing.assert_close(window_linear_attention(q, k, v, grid, window, phi, 0.3, 1, 1), expected)


def test_window_attention_keeps_windows_apart():
    """Patches see their own window and the prefix tokens only; the cls token sees all."""
    grid = (4, 4)
    q, k, v = make_qkv(grid, 1)
    out = window_attention(q, k, v, grid, 2, 1)
    v2 = v.clone()
    v2[:, :, 1 + 15] += 1  # a patch of the bottom-right window
    out2 = window_attention(q, k, v2, grid, 2, 1)
    changed = (out2 - out).abs().amax(dim=(0, 1, 3)) > 0
    assert changed.tolist() == [True] + [False] * 10 + [True, True, False, False, True, True]


@pytest.mark.parametrize('grid, window, prefix', CASES)
@pytest.mark.parametrize('feature_map', ['hedgehog', 'elu'])
def test_window_linear_matches_naive(device, grid, window, prefix, feature_map):
    q, k, v = make_qkv(grid, prefix)
    phi = build_feature_map(feature_map, H, D).double()
    window_factor = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    expected = window_linear_attention_naive(q, k, v, grid, window, phi, window_factor, 0.7, prefix)
    out = window_linear_attention(*(x.to(device) for x in (q, k, v)), grid, window, phi.to(device),
                                  window_factor.to(device), 0.7, prefix)
    torch.testing.assert_close(out.cpu(), expected)


def test_window_linear_naive_is_lolcats_formula_by_hand():
    """One query, no prefix, a 1x3 grid in 1x1 windows: its own patch by softmax, the others linear."""
    grid = (1, 3)
    q, k, v = make_qkv(grid, 0)
    phi = build_feature_map('elu', H, D)
    a, b = 0.25, 0.8
    s = (q[:, :, 0] * k[:, :, 0]).sum(-1, keepdim=True) * D ** -0.5
    soft = a * torch.exp(s - s)  # the window's maximum is its only score
    lin = [b * (phi(q[:, :, 0]) * phi(k[:, :, j])).sum(-1, keepdim=True) for j in (1, 2)]
    expected = (soft * v[:, :, 0] + lin[0] * v[:, :, 1] + lin[1] * v[:, :, 2]) / (soft + lin[0] + lin[1])
    for fn in (window_linear_attention, window_linear_attention_naive):
        torch.testing.assert_close(fn(q, k, v, grid, 1, phi, a, b)[:, :, 0], expected)


def test_window_linear_gradients_match_naive():
    grid = (3, 5)
    q, k, v = (t.requires_grad_() for t in make_qkv(grid, 1))
    phi = build_feature_map('hedgehog', H, D).double()
    factor = torch.zeros(H, dtype=torch.float64, requires_grad=True)
    grads = []
    for fn in (window_linear_attention, window_linear_attention_naive):
        fn(q, k, v, grid, 2, phi, factor.sigmoid(), 1., 1).square().sum().backward()
        grads.append([t.grad.clone() for t in (q, k, v, factor, phi.weight)])
        for t in (q, k, v, factor, phi.weight):
            t.grad = None
    for ours, reference in zip(*grads):
        torch.testing.assert_close(ours, reference)


def test_bf16_inputs_under_autocast():
    grid = (5, 6)
    q, k, v = make_qkv(grid, 1, dtype=torch.float32)
    phi = build_feature_map('hedgehog', H, D)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        window = window_attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), grid, 4, 1)
        hybrid = window_linear_attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), grid, 4, phi, 0.5, 1., 1)
    assert window.dtype == hybrid.dtype == torch.bfloat16
    torch.testing.assert_close(window.float(), window_attention_naive(q, k, v, grid, 4, 1), atol=3e-2, rtol=3e-2)
    torch.testing.assert_close(hybrid.float(), window_linear_attention_naive(q, k, v, grid, 4, phi, 0.5, 1., 1),
                               atol=3e-2, rtol=3e-2)


def test_wrong_token_count_is_refused():
    q, k, v = make_qkv((3, 3), 1)
    with pytest.raises(ValueError, match='3x4 grid'):
        window_attention(q, k, v, (3, 4), 2, 1)


@pytest.mark.parametrize('grid, window, prefix', CASES)
def test_window_linear_with_separate_key_map_matches_naive(grid, window, prefix):
    """LoLCATs learns a map for the queries and one for the keys: the linear part takes both."""
    q, k, v = make_qkv(grid, prefix)
    query_map, key_map = (build_feature_map('hedgehog', H, D).double() for _ in range(2))
    with torch.no_grad():
        key_map.weight.normal_(generator=torch.Generator().manual_seed(1))
    args = (grid, window, query_map, torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64), 0.7, prefix)
    out = window_linear_attention(q, k, v, *args, key_map=key_map)
    torch.testing.assert_close(out, window_linear_attention_naive(q, k, v, *args, key_map=key_map))
    assert not torch.allclose(out, window_linear_attention_naive(q, k, v, *args))


@pytest.mark.parametrize('grid', [(8, 8), (7, 9)], ids=['whole windows', 'padded'])
def test_window_attention_runs_a_fused_sdpa_kernel(device, grid):
    """The windows are folded into SDPA's head axis: 4-D inputs (and a 4-D padding mask), for which
    SDPA has fused kernels; on 5-D ones it runs its math kernel, a w^2 x w^2 matrix per window."""
    q, k, v = (x.float().to(device) for x in make_qkv(grid, 1))
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == 'cuda' else [])
    with profile(activities=activities) as prof:
        out = window_attention(q, k, v, grid, 4, 1)
    kernels = {event.name for event in prof.events() if 'scaled_dot_product' in event.name}
    assert not any('math' in name for name in kernels), kernels
    fused = ('flash_attention_for_cpu',) if device == 'cpu' else ('flash_attention', 'efficient_attention')
    assert any(name.endswith(fused) for name in kernels), kernels
    torch.testing.assert_close(out.cpu(), window_attention_naive(*(x.cpu() for x in (q, k, v)), grid, 4, 1),
                               atol=1e-5, rtol=1e-5)
