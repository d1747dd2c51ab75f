"""AdaLAViT on the paper's other foundation models and DINOv3: equal to timm's own models.

Softmax mode must be timm's model exactly (any input size); linear mode must equal timm's
model with each attention replaced by a naive linear attention written here from the
formula (quadratic N x N scores; for DINOv3 the rotary form of RoFormer 3.3).
"""
import pytest
import timm
import torch
import torch.nn.functional as F
from torch import nn

from mmseg_adala.models import AdaLAViT
from mmseg_adala.models.backbones import ARCHS, resolve_arch, with_backbone_normalisation
from mmseg_adala.ops import build_feature_map, linear_attention_naive, rotary_linear_attention_naive

TINY = dict(embed_dim=48, depth=2, num_heads=2)
# (arch, img_size of the tiny weights' grid): CLIP (OpenAI QuickGELU, LAION GELU), SigLIP (no class
# token), ImageNet-21K and -1K, DINOv3 (Eva, RoPE, 4 registers; H+ with SwiGLU), DINOv2 and a timm name.
FAMILIES = [('clip_vitl14', 56), ('clip_vitl14_laion', 56), ('siglip_vitl16', 64), ('in21k_vitl16', 64),
            ('in1k_vitl16', 64), ('dinov3_vitl16', 64), ('dinov3_vith16plus', 64), ('dinov2_vitl14_reg', 56),
            ('vit_base_patch16_clip_224.openai', 64)]


def timm_reference(arch, img_size):
    """timm's model of `arch`, tiny, with random weights far from the initialisation (LayerScale
    1e-5 would hide the attention)."""
    torch.manual_seed(0)
    model = timm.create_model(resolve_arch(arch).model_name, pretrained=False, num_classes=0, global_pool='',
                              dynamic_img_size=True, img_size=img_size, **TINY)
    for param in model.parameters():
        nn.init.normal_(param, std=0.05)
    return model.eval()


def backbone_like(reference, arch, img_size, **kwargs):
    backbone = AdaLAViT(arch=arch, vit_cfg=TINY, img_size=img_size, **kwargs).eval()
    backbone.vit.load_state_dict(reference.state_dict(), strict=False)
    return backbone


def input_sizes(arch, img_size):
    patch = resolve_arch(arch).patch_size
    return [(img_size, img_size), (2 * img_size, img_size + 3 * patch)]


@pytest.mark.parametrize('arch, img_size', FAMILIES)
def test_softmax_mode_is_timms_model(arch, img_size):
    reference = timm_reference(arch, img_size)
    backbone = backbone_like(reference, arch, img_size, attn_type='softmax')
    assert set(backbone.vit.state_dict()) == set(reference.state_dict())  # checkpoints load both ways
    # DINOv2 interpolates its position embeddings its own way (test_adala_vit.py): equal on its grid.
    sizes = input_sizes(arch, img_size)[:1 if arch.startswith('dinov2') else None]
    for size in sizes:
        x = torch.randn(2, 3, *size)
        with torch.no_grad():
            torch.testing.assert_close(backbone.forward_tokens(x), reference.forward_features(x), rtol=0, atol=0)


class NaiveLinearAttention(nn.Module):
    """Linear attention from the formula on a timm attention's own weights, as the reference."""

    def __init__(self, attn: nn.Module, feature_map: str) -> None:
        super().__init__()
        self.attn = attn
        self.phi = build_feature_map(feature_map, attn.num_heads, attn.head_dim)

    def forward(self, x, rope=None, attn_mask=None, is_causal=False):
        attn = self.attn
        B, N, C = x.shape
        bias = attn.qkv.bias
        if getattr(attn, 'q_bias', None) is not None:  # Eva's layout
            bias = torch.cat([attn.q_bias, torch.zeros_like(attn.q_bias), attn.v_bias])
        qkv = F.linear(x, attn.qkv.weight, bias).reshape(B, N, 3, attn.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q, k = self.phi(attn.q_norm(q)), self.phi(attn.k_norm(k))
        if rope is None:
            out = linear_attention_naive(q, k, v)
        else:
            out = rotary_linear_attention_naive(q, k, v, rope, rotate_half=attn.rotate_half,
                                                num_prefix_tokens=attn.num_prefix_tokens)
        return attn.proj(attn.norm(out.transpose(1, 2).reshape(B, N, C)))


@pytest.mark.parametrize('arch, img_size', FAMILIES)
def test_linear_mode_is_the_naive_formula_in_timms_model(arch, img_size):
    reference = timm_reference(arch, img_size)
    backbone = backbone_like(reference, arch, img_size, attn_type='linear', feature_map='elu')
    for block in reference.blocks:
        block.attn = NaiveLinearAttention(block.attn, 'elu')
    for size in input_sizes(arch, img_size)[:1 if arch.startswith('dinov2') else None]:
        x = torch.randn(2, 3, *size)
        with torch.no_grad():
            torch.testing.assert_close(backbone.forward_tokens(x), reference.forward_features(x),
                                       rtol=1e-4, atol=1e-5)


def test_dense_outputs_of_a_model_without_class_token():
    """SigLIP: all tokens are patches; its feature maps cover the grid and there is no cls to return."""
    backbone = AdaLAViT(arch='siglip_vitl16', vit_cfg=TINY, img_size=64, out_indices=(0, 1)).eval()
    with torch.no_grad():
        maps = backbone(torch.randn(1, 3, 64, 96))
        tokens = backbone.forward_tokens(torch.randn(1, 3, 64, 96))
    assert [tuple(m.shape) for m in maps] == [(1, 48, 4, 6)] * 2
    assert tokens.shape == (1, 24, 48)
    with pytest.raises(ValueError, match='no class token'):
        AdaLAViT(arch='siglip_vitl16', vit_cfg=TINY, img_size=64, with_cls_token=True)


def test_every_named_arch_is_a_timm_model_with_its_patch_and_normalisation():
    for name, arch in ARCHS.items():
        model = timm.create_model(arch.model_name, pretrained=False, depth=1, num_classes=0)
        assert model.patch_embed.patch_size[0] == arch.patch_size, name
        assert len(arch.normalisation['mean']) == 3 and min(arch.normalisation['std']) > 0, name
    assert resolve_arch('test_vit').patch_size == 16  # timm's name says no patch size: a 1-block model does
    # The normalisation of the paper's models, as their releases document it (0-255 RGB).
    assert resolve_arch('clip_vitl14').normalisation['mean'] == [122.7709, 116.746, 104.0937]  # OpenAI CLIP
    assert resolve_arch('siglip_vitl16').normalisation == dict(mean=[127.5] * 3, std=[127.5] * 3)
    assert resolve_arch('dinov3_vitl16').normalisation == dict(mean=[123.675, 116.28, 103.53],
                                                               std=[58.395, 57.12, 57.375])
    assert resolve_arch('dinov3_vitl16_sat').normalisation['mean'] == [109.65, 104.805, 75.48]


def test_configs_take_the_backbones_normalisation():
    preprocessor = dict(type='SegDataPreProcessor', bgr_to_rgb=True)
    clip = dict(type='AdaLAViT', arch='clip_vitl14')
    assert with_backbone_normalisation(preprocessor, clip) == {**preprocessor,
                                                              **resolve_arch('clip_vitl14').normalisation}
    assert with_backbone_normalisation(preprocessor, dict(type='AdaLAViT'))['mean'] == [123.675, 116.28, 103.53]
    imagenet = dict(preprocessor, mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])
    assert with_backbone_normalisation(imagenet, clip) == imagenet  # what a config sets is kept (and warned of)
    assert with_backbone_normalisation(preprocessor, dict(type='ResNetV1c')) == preprocessor


def test_block_local_concentration_is_refused_for_eva_blocks():
    with pytest.raises(ValueError, match='EvaBlock.*local_concentration=True'):
        AdaLAViT(arch='dinov3_vitl16', vit_cfg=TINY, block_local_concentration=True)
    # The in-attention placement works with RoPE; zero-initialised, it leaves the model as it was.
    plain = AdaLAViT(arch='dinov3_vitl16', vit_cfg=TINY).eval()
    with_branch = AdaLAViT(arch='dinov3_vitl16', vit_cfg=TINY, attn_cfg=dict(local_concentration=True)).eval()
    with_branch.vit.load_state_dict(plain.vit.state_dict(), strict=False)
    x = torch.randn(1, 3, 64, 80)
    with torch.no_grad():
        torch.testing.assert_close(with_branch(x)[0], plain(x)[0], rtol=0, atol=0)
