import pytest
import torch
from timm.layers import Attention

from mmseg_adala.models import AdaLAAttention
from mmseg_adala.ops import build_feature_map, linear_attention_naive


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
    attn.feature_map.register_forward_hook(lambda _, args, out: dtypes.append((args[0].dtype, out.dtype)))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = attn(torch.randn(2, 10, 32))
    out.float().sum().backward()
    assert out.dtype == torch.bfloat16 and attn.qkv.weight.grad is not None
    assert dtypes == [(torch.float32, torch.float32)] * 2  # q, then k


def test_zero_init_local_concentration_changes_nothing():
    plain = AdaLAAttention(32, num_heads=4, attn_type='linear').eval()
    with_lcm = AdaLAAttention.from_timm(plain, attn_type='linear', local_concentration=True).eval()
    x = torch.randn(2, 1 + 12, 32)
    with_lcm.grid_size = (3, 4)
    torch.testing.assert_close(with_lcm(x), plain(x))
    # Once trained (non-zero), it acts on patch tokens only: the cls token's output is unchanged.
    torch.nn.init.normal_(with_lcm.local_concentration.conv2.weight)
    out = with_lcm(x)
    torch.testing.assert_close(out[:, 0], plain(x)[:, 0])
    assert not torch.allclose(out[:, 1:], plain(x)[:, 1:])


def test_local_concentration_needs_the_grid():
    attn = AdaLAAttention(32, num_heads=4, attn_type='linear', local_concentration=True)
    attn.grid_size = (5, 5)
    with pytest.raises(ValueError, match='5x5 grid'):
        attn(torch.randn(1, 13, 32))


def test_copy_refuses_foreign_weights():
    lcm = AdaLAAttention(32, num_heads=4, attn_type='linear', local_concentration=True)
    with pytest.raises(KeyError, match='local_concentration'):
        AdaLAAttention.from_timm(lcm, attn_type='linear')  # would silently drop trained weights


def test_invalid_attention_type():
    with pytest.raises(ValueError, match='attn_type'):
        AdaLAAttention(32, num_heads=4, attn_type='performer')
