"""AdaLAAttention as the attention of timm's Eva (DINOv3): rotary embeddings and Eva's parameter layout."""
from functools import partial

import pytest
import timm
import torch
import torch.nn.functional as F
from timm.layers import LayerNorm
from timm.models.eva import EvaAttention

from mmseg_adala.models import AdaLAAttention
from mmseg_adala.ops import build_feature_map, rotary_linear_attention_naive

DIM, HEADS, PREFIX = 48, 2, 5  # cls + 4 registers
VARIANTS = ['vit_small_patch16_dinov3', 'vit_small_patch16_dinov3_qkvb']


def tiny_dinov3(name):
    """A 2-block DINOv3 with random weights, Eva's q_bias / v_bias (where it has them) non-zero."""
    model = timm.create_model(name, pretrained=False, embed_dim=DIM, depth=2, num_heads=HEADS).eval()
    with torch.no_grad():
        for block in model.blocks:
            if block.attn.q_bias is not None:
                block.attn.q_bias.normal_()
                block.attn.v_bias.normal_()
    return model


def eva_qkv(attn, x):
    bias = None if attn.q_bias is None else torch.cat((attn.q_bias, attn.k_bias, attn.v_bias))
    B, N, _ = x.shape
    return F.linear(x, attn.qkv.weight, bias).reshape(B, N, 3, attn.num_heads, -1).permute(2, 0, 3, 1, 4)


@pytest.mark.parametrize('name', VARIANTS)
@pytest.mark.parametrize('grid', [(3, 5), (7, 7)])
def test_softmax_copy_equals_eva_attention(name, grid):
    model = tiny_dinov3(name)
    eva_attn = model.blocks[0].attn
    ours = AdaLAAttention.from_timm(eva_attn, attn_type='softmax').eval()
    assert (ours.rotate_half, ours.num_prefix_tokens) == (True, PREFIX)
    rope = model.rope.get_embed(shape=grid)
    x = torch.randn(2, PREFIX + grid[0] * grid[1], DIM)
    torch.testing.assert_close(ours(x, rope=rope), eva_attn(x, rope=rope), atol=1e-6, rtol=0)


@pytest.mark.parametrize('name, qv_bias', list(zip(VARIANTS, [False, True])))
def test_eva_state_dict_loads_strictly(name, qv_bias):
    eva_attn = tiny_dinov3(name).blocks[0].attn
    ours = AdaLAAttention(DIM, HEADS, qv_bias=qv_bias, attn_type='softmax', rotate_half=True, num_prefix_tokens=PREFIX)
    ours.load_state_dict(eva_attn.state_dict())
    assert ours.state_dict().keys() == eva_attn.state_dict().keys()


@pytest.mark.parametrize('rotate_half', [False, True])
def test_softmax_copy_keeps_eva_norms_and_layout(rotate_half):
    """EVA-02's layout: qk_norm and scale_norm LayerNorms (non-default eps), interleaved or half rope."""
    eva_attn = EvaAttention(DIM, HEADS, qkv_bias=True, qk_norm=True, scale_norm=True, rotate_half=rotate_half,
                            num_prefix_tokens=1, norm_layer=partial(LayerNorm, eps=1e-2)).eval()
    with torch.no_grad():
        for p in eva_attn.parameters():
            p.normal_()
    ours = AdaLAAttention.from_timm(eva_attn, attn_type='softmax').eval()
    assert ours.norm.eps == 1e-2
    rope = timm.create_model('vit_small_patch16_dinov3', pretrained=False, embed_dim=DIM, depth=1,
                             num_heads=HEADS).eval().rope.get_embed(shape=(4, 3))
    x = torch.randn(2, 1 + 12, DIM)
    torch.testing.assert_close(ours(x, rope=rope), eva_attn(x, rope=rope), atol=1e-6, rtol=0)


@pytest.mark.parametrize('name', VARIANTS)
def test_dinov3_with_swapped_softmax_attention_is_unchanged(name):
    model = tiny_dinov3(name)
    images = [torch.randn(2, 3, 48, 80), torch.randn(1, 3, 96, 96)]
    expected = [model.forward_features(x) for x in images]
    for block in model.blocks:
        block.attn = AdaLAAttention.from_timm(block.attn, attn_type='softmax').eval()
    for x, ref in zip(images, expected):
        torch.testing.assert_close(model.forward_features(x), ref, atol=0, rtol=0)


@pytest.mark.parametrize('feature_map', ['elu', 'hedgehog'])
def test_linear_copy_equals_rotary_reference(feature_map):
    model = tiny_dinov3('vit_small_patch16_dinov3_qkvb')
    eva_attn = model.blocks[0].attn
    ours = AdaLAAttention.from_timm(eva_attn, attn_type='linear', feature_map=feature_map).eval()
    rope = model.rope.get_embed(shape=(3, 5))
    x = torch.randn(2, PREFIX + 15, DIM)
    q, k, v = eva_qkv(eva_attn, x)
    phi = build_feature_map(feature_map, HEADS, DIM // HEADS)
    out = rotary_linear_attention_naive(phi(q), phi(k), v, rope, rotate_half=True, num_prefix_tokens=PREFIX)
    expected = eva_attn.proj(out.transpose(1, 2).reshape(2, PREFIX + 15, DIM))
    with torch.no_grad():
        torch.testing.assert_close(ours(x, rope=rope), expected, atol=1e-5, rtol=1e-4)


def test_window_over_the_whole_grid_with_rope_is_softmax():
    model = tiny_dinov3('vit_small_patch16_dinov3_qkvb')
    softmax = AdaLAAttention.from_timm(model.blocks[0].attn, attn_type='softmax').eval()
    window = AdaLAAttention.from_timm(model.blocks[0].attn, attn_type='window', window_size=5).eval()
    rope = model.rope.get_embed(shape=(3, 5))
    x = torch.randn(2, PREFIX + 15, DIM)
    torch.testing.assert_close(window(x, rope=rope, grid_size=(3, 5)), softmax(x, rope=rope), atol=1e-6, rtol=1e-5)


def test_none_ignores_rope_and_window_linear_refuses_it():
    eva_attn = tiny_dinov3('vit_small_patch16_dinov3').blocks[0].attn
    rope = torch.randn(15, DIM)
    x = torch.randn(2, PREFIX + 15, DIM)
    none = AdaLAAttention.from_timm(eva_attn, attn_type='none')
    torch.testing.assert_close(none(x, rope=rope), none(x))
    window_linear = AdaLAAttention.from_timm(eva_attn, attn_type='window_linear')
    with pytest.raises(NotImplementedError, match='window_linear'):
        window_linear(x, rope=rope, grid_size=(3, 5))


@pytest.mark.parametrize('layout', [dict(qkv_fused=False), dict(gated=True)])
def test_copy_refuses_unfused_or_gated_eva_attention(layout):
    with pytest.raises(ValueError, match='q_proj|gated'):
        AdaLAAttention.from_timm(EvaAttention(DIM, HEADS, scale_norm=False, **layout))
