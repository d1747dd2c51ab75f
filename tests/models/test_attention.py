import pytest
import torch
import torch.nn.functional as F
from timm.layers import Attention

from tiny import TINY_VIT

from mmseg_adala.models import AdaLAAttention, AdaLAViT
from mmseg_adala.ops import (build_feature_map, linear_attention_naive, window_attention_naive,
                             window_linear_attention_naive)


def _timm_attention(qk_norm=False):
    attn = Attention(32, num_heads=4, qkv_bias=True, qk_norm=qk_norm, norm_layer=torch.nn.LayerNorm)
    return attn.eval()


@pytest.mark.parametrize('qk_norm', [False, True])
def test_softmax_copy_equals_timm(qk_norm):
    timm_attn = _timm_attention(qk_norm)
    ours = AdaLAAttention.from_timm(timm_attn, attn_type='softmax').eval()
    x = torch.randn(2, 10, 32)
    torch.testing.assert_close(ours(x), timm_attn(x), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize('feature_map', ['elu', 'relu', 'focused', 'hedgehog'])
def test_linear_equals_naive_reference(feature_map):
    timm_attn = _timm_attention()
    ours = AdaLAAttention.from_timm(timm_attn, attn_type='linear', feature_map=feature_map).eval()
    x = torch.randn(2, 10, 32)
    q, k, v = timm_attn.qkv(x).reshape(2, 10, 3, 4, 8).permute(2, 0, 3, 1, 4)
    phi = build_feature_map(feature_map, 4, 8)
    expected = timm_attn.proj(linear_attention_naive(phi(q), phi(k), v).transpose(1, 2).reshape(2, 10, 32))
    torch.testing.assert_close(ours(x), expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize('feature_map', ['elu', 'hedgehog'])
def test_bf16_autocast_maps_queries_and_keys_in_float32(feature_map):
    """Mixed-precision training: the projections run in bf16, the feature map in float32."""
    attn = AdaLAAttention(32, num_heads=4, attn_type='linear', feature_map=feature_map)
    dtypes = []
    for fmap in {attn.feature_map, attn.key_map or attn.feature_map}:
        fmap.register_forward_hook(lambda _, args, out: dtypes.append((args[0].dtype, out.dtype)))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = attn(torch.randn(2, 10, 32))
    out.float().sum().backward()
    assert out.dtype == torch.bfloat16 and attn.qkv.weight.grad is not None
    assert dtypes == [(torch.float32, torch.float32)] * 2  # q, then k


def test_zero_init_local_concentration_changes_nothing():
    plain = AdaLAAttention(32, num_heads=4, attn_type='linear').eval()
    with_lcm = AdaLAAttention.from_timm(plain, attn_type='linear', local_concentration=True).eval()
    x = torch.randn(2, 1 + 12, 32)
    torch.testing.assert_close(with_lcm(x, grid_size=(3, 4)), plain(x))
    # Once trained (non-zero), it acts on patch tokens only: the cls token's output is unchanged.
    torch.nn.init.normal_(with_lcm.local_concentration.conv2.weight)
    out = with_lcm(x, grid_size=(3, 4))
    torch.testing.assert_close(out[:, 0], plain(x)[:, 0])
    assert not torch.allclose(out[:, 1:], plain(x)[:, 1:])


def test_local_concentration_needs_the_grid():
    attn = AdaLAAttention(32, num_heads=4, attn_type='linear', local_concentration=True)
    with pytest.raises(ValueError, match='5x5 grid'):
        attn(torch.randn(1, 13, 32), grid_size=(5, 5))


def test_copy_refuses_foreign_weights():
    lcm = AdaLAAttention(32, num_heads=4, attn_type='linear', local_concentration=True)
    with pytest.raises(KeyError, match='local_concentration'):
        AdaLAAttention.from_timm(lcm, attn_type='linear')  # would silently drop trained weights


def test_invalid_attention_type():
    with pytest.raises(ValueError, match='attn_type'):
        AdaLAAttention(32, num_heads=4, attn_type='performer')


def _qkv(timm_attn, x):
    B, N, _ = x.shape
    return timm_attn.qkv(x).reshape(B, N, 3, 4, 8).permute(2, 0, 3, 1, 4)


@pytest.mark.parametrize('grid, window', [((3, 4), 2), ((5, 3), 2), ((4, 4), 3)])
def test_window_equals_naive_reference(grid, window):
    timm_attn = _timm_attention()
    ours = AdaLAAttention.from_timm(timm_attn, attn_type='window', window_size=window).eval()
    x = torch.randn(2, 1 + grid[0] * grid[1], 32)
    q, k, v = _qkv(timm_attn, x)
    expected = timm_attn.proj(window_attention_naive(q, k, v, grid, window, 1).transpose(1, 2).reshape(x.shape))
    torch.testing.assert_close(ours(x, grid_size=grid), expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize('feature_map', ['hedgehog', 'elu'])
def test_window_linear_equals_naive_reference_with_lolcats_factor(feature_map):
    """The softmax part weighs sigmoid(window_factor) per head (LoLCATs), 0.5 from a softmax copy."""
    timm_attn = _timm_attention()
    ours = AdaLAAttention.from_timm(timm_attn, attn_type='window_linear', feature_map=feature_map,
                                    window_size=2).eval()
    assert torch.equal(ours.window_factor.detach(), torch.zeros(4))
    with torch.no_grad():
        ours.window_factor.copy_(torch.tensor([-2., 0., 1., 3.]))
    grid = (3, 5)
    x = torch.randn(2, 1 + 15, 32)
    q, k, v = _qkv(timm_attn, x)
    factor = torch.tensor([-2., 0., 1., 3.]).sigmoid()
    out = window_linear_attention_naive(q, k, v, grid, 2, ours.feature_map, factor, 1., num_prefix_tokens=1)
    expected = timm_attn.proj(out.transpose(1, 2).reshape(x.shape))
    torch.testing.assert_close(ours(x, grid_size=grid), expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize('attn_type', ['window', 'window_linear'])
def test_window_kernels_need_the_grid(attn_type):
    with pytest.raises(ValueError, match='grid_size'):
        AdaLAAttention(32, num_heads=4, attn_type=attn_type)(torch.randn(1, 13, 32))


@pytest.mark.parametrize('attn_type', ['window', 'window_linear'])
def test_backbone_with_a_window_over_the_whole_grid_is_the_softmax_backbone(attn_type):
    """Per-layer types reach the blocks, and a window covering the grid is global softmax, cls
    and registers included (dinov2_vits14_reg), at a size that is not a whole number of patches."""
    kwargs = dict(arch='dinov2_vits14_reg', vit_cfg=TINY_VIT, img_size=112, out_indices=(0, 1))
    softmax = AdaLAViT(attn_type='softmax', **kwargs).eval()
    for block in softmax.vit.blocks:  # DINOv2's LayerScale init (1e-5) would hide the attention
        torch.nn.init.constant_(block.ls1.gamma, 0.5)
    windowed = AdaLAViT(attn_type=['softmax', attn_type], attn_cfg=dict(window_size=6), **kwargs).eval()
    windowed.load_state_dict(softmax.state_dict(), strict=False)
    assert [block.attn.attn_type for block in windowed.vit.blocks] == ['softmax', attn_type]
    x = torch.randn(1, 3, 70, 80)  # a 5x6 patch grid
    with torch.no_grad():
        for ours, expected in zip(windowed(x), softmax(x)):
            torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-4)
        small = AdaLAViT(attn_type=attn_type, attn_cfg=dict(window_size=4), **kwargs).eval()
        small.load_state_dict(softmax.state_dict(), strict=False)
        assert not torch.allclose(small(x)[1], softmax(x)[1], atol=1e-3)


def _randomise(module, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=g) * 0.3)


def _heads(t, heads=4):
    """(B, N, C) -> (B, H, N, C / H)."""
    return t.reshape(t.shape[0], t.shape[1], heads, -1).transpose(1, 2)


def _naive_linear(phi_q, phi_k, v, eps=1e-6):
    """Linear attention from its definition, out_i = sum_j a_ij v_j / (sum_j a_ij + eps) with
    a_ij = phi(q_i) . phi(k_j) / M: the layer's eps is on the mean (see `linear_attention`)."""
    scores = phi_q @ phi_k.transpose(-2, -1) / phi_k.shape[-2]
    return scores @ v / (scores.sum(-1, keepdim=True) + eps)


def _hedgehog_reference(x, weight, bias):
    """Hedgehog's phi(x) = [softmax(x W_h + b_h), softmax(-x W_h - b_h)], per head, as an explicit loop."""
    heads = [x[:, h] @ weight[h] + bias[h] for h in range(x.shape[1])]
    return torch.stack([torch.cat([z.softmax(-1), (-z).softmax(-1)], dim=-1) for z in heads], dim=1)


@pytest.mark.parametrize('attn_type', ['linear', 'window_linear'])
def test_hedgehog_learns_separate_query_and_key_maps(attn_type):
    attn = AdaLAAttention(32, num_heads=4, qkv_bias=True, attn_type=attn_type, feature_map='hedgehog')
    assert attn.key_map is not attn.feature_map
    assert {k for k in attn.state_dict() if k.endswith(('map.weight', 'map.bias'))} == {
        'feature_map.weight', 'feature_map.bias', 'key_map.weight', 'key_map.bias'}
    _randomise(attn.feature_map, 1)
    _randomise(attn.key_map, 2)
    x = torch.randn(2, 1 + 12, 32, dtype=torch.float64)
    attn = attn.double().eval()
    attn.window_size = 2
    q, k, v = (_heads(t) for t in attn.qkv(x).chunk(3, dim=-1))
    phi_q = _hedgehog_reference(q, attn.feature_map.weight, attn.feature_map.bias)
    phi_k = _hedgehog_reference(k, attn.key_map.weight, attn.key_map.bias)
    if attn_type == 'linear':
        expected = _naive_linear(phi_q, phi_k, v)
    else:  # LoLCATs' naive formula, whose linear part takes the two maps
        factor = attn.window_factor.sigmoid()
        expected = window_linear_attention_naive(q, k, v, (3, 4), 2, attn.feature_map, factor, num_prefix_tokens=1,
                                                 scale=attn.scale, key_map=attn.key_map)
        shared = window_linear_attention_naive(q, k, v, (3, 4), 2, attn.feature_map, factor, num_prefix_tokens=1,
                                               scale=attn.scale)
        assert not torch.allclose(expected, shared)  # the key map matters
    with torch.no_grad():
        out = attn(x, grid_size=(3, 4))
    torch.testing.assert_close(out, attn.proj(expected.transpose(1, 2).reshape(2, 13, 32)))
    if attn_type == 'linear':  # the naive reference is independent of the op
        torch.testing.assert_close(expected, linear_attention_naive(phi_q, phi_k, v))


def test_hedgehog_maps_start_as_identity_and_train():
    timm_attn = _timm_attention()
    ours = AdaLAAttention.from_timm(timm_attn, attn_type='linear', feature_map='hedgehog')
    for fmap in (ours.feature_map, ours.key_map):
        torch.testing.assert_close(fmap.weight, torch.eye(8).repeat(4, 1, 1))
        assert not fmap.bias.any()
    ours(torch.randn(2, 10, 32)).sum().backward()
    for fmap in (ours.feature_map, ours.key_map):
        assert fmap.weight.grad.abs().sum() > 0 and fmap.bias.grad.abs().sum() > 0


def _flatten_reference(attn, x, grid):
    """FLatten's focused linear attention (Han et al., ICCV 2023) on (B, N, C) tokens.

    phi_p(x) = ||x'|| / ||x'**p|| x'**p with x' = (ReLU(x) + eps) / softplus(s), norms over all C
    channels; O = phi(Q) phi(K)^T V / (phi(Q) sum phi(K)) per head, plus DWC(V), one depthwise
    kernel for all heads, over the patch grid (prefix tokens: none).
    """
    B, N, C = x.shape
    q, k, v = attn.qkv(x).chunk(3, dim=-1)
    scale = F.softplus(attn.feature_map.scale.reshape(C))

    def focus(t):
        t = (F.relu(t) + 1e-6) / scale
        return t.norm(dim=-1, keepdim=True) / (t ** 3).norm(dim=-1, keepdim=True) * t ** 3

    out = _naive_linear(_heads(focus(q)), _heads(focus(k)), _heads(v))  # (B, H, N, d)
    conv = attn.value_conv.conv
    rows, cols = grid
    for h in range(4):
        patches = _heads(v)[:, h, 1:].transpose(1, 2).reshape(B, -1, rows, cols)
        local = F.conv2d(patches, conv.weight, conv.bias, padding=conv.padding, groups=conv.groups)
        out[:, h, 1:] += local.flatten(2).transpose(1, 2)
    return attn.proj(out.transpose(1, 2).reshape(B, N, C))


def test_focused_with_value_conv_is_flatten_focused_linear_attention():
    attn = AdaLAAttention(32, num_heads=4, qkv_bias=True, attn_type='linear', feature_map='focused',
                          value_conv=5).double().eval()
    assert attn.value_conv.conv.weight.shape == (8, 1, 5, 5)  # head_dim channels, kernel 5
    _randomise(attn.feature_map, 1)
    _randomise(attn.value_conv, 2)
    x = torch.randn(2, 1 + 12, 32, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(attn(x, grid_size=(3, 4)), _flatten_reference(attn, x, (3, 4)))


def test_value_conv_starts_at_zero_and_needs_the_grid():
    plain = AdaLAAttention(32, num_heads=4, attn_type='linear', feature_map='focused').eval()
    with_conv = AdaLAAttention.from_timm(plain, attn_type='linear', feature_map='focused', value_conv=5).eval()
    x = torch.randn(2, 1 + 12, 32)
    with pytest.raises(ValueError, match='grid_size'):
        with_conv(x)
    with pytest.raises(ValueError, match='12 patch tokens for a 5x5 grid'):
        with_conv(x, grid_size=(5, 5))
    torch.testing.assert_close(with_conv(x, grid_size=(3, 4)), plain(x))
    with_conv.grid_size = (3, 4)  # the backbone's grid of the current input, for calls that pass none
    with_conv(x).sum().backward()
    assert with_conv.value_conv.conv.weight.grad.abs().sum() > 0
