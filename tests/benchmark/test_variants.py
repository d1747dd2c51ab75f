"""mmseg_adala/benchmark/variants.py: the variants of one network that the benchmark compares, and
the segmentor configs it builds for an arch. `no_attention` must be the linear backbone minus its
kernel alone, or linear / no_attention would not say what the kernel costs; a segmentor config must
fit the arch's width and depth and run on one device (BN, no SyncBN).
"""
import os.path as osp

import pytest
import torch
from tiny import TINY_VIT

from mmseg_adala.benchmark import DEFAULT_SEGMENTOR_CONFIG, build_backbone, build_segmentor, segmentor_model_config
from mmseg_adala.models import AdaLAAttention

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_no_attention_is_proj_of_v():
    no_attn = AdaLAAttention(48, num_heads=2, qkv_bias=True, attn_type='none')
    x = torch.randn(2, 10, 48)
    v = x @ no_attn.qkv.weight[96:].T + no_attn.qkv.bias[96:]  # qkv's output is [q | k | v]
    expected = v @ no_attn.proj.weight.T + no_attn.proj.bias
    torch.testing.assert_close(no_attn(x), expected)


def test_no_attention_backbone_is_linear_minus_the_kernel():
    linear = build_backbone('linear', vit_cfg=TINY_VIT).eval()
    no_attn = build_backbone('no_attention', vit_cfg=TINY_VIT).eval()
    assert all(block.attn.attn_type == 'none' for block in no_attn.vit.blocks)
    # Same parameters, names and shapes: only the attention kernel (parameter-free for ELU) is gone.
    assert {k: v.shape for k, v in no_attn.state_dict().items()} == {k: v.shape for k, v in linear.state_dict().items()}
    assert sum(p.numel() for p in no_attn.parameters()) == sum(p.numel() for p in linear.parameters())
    no_attn.load_state_dict(linear.state_dict())
    x = torch.randn(1, 3, 70, 56)
    with torch.no_grad():
        (out_linear,), (out_no_attn,) = linear(x), no_attn(x)
    assert out_no_attn.shape == out_linear.shape == (1, 48, 5, 4)
    assert not torch.allclose(out_no_attn, out_linear)  # the kernel really is gone


@pytest.mark.parametrize('arch, vit_cfg, out_indices, width', [
    ('dinov2_vits14', None, (2, 5, 8, 11), 384),
    ('dinov2_vits14', TINY_VIT, (1,), 48),  # 2 blocks for 4 outputs: the last one, repeated by the neck
])
def test_segmentor_config_fits_the_arch(arch, vit_cfg, out_indices, width):
    model = segmentor_model_config(DEFAULT_SEGMENTOR_CONFIG, 'linear', arch, vit_cfg)
    assert model.backbone.arch == arch and model.backbone.attn_type == 'linear'
    assert model.backbone.init_cfg is None
    assert tuple(model.backbone.out_indices) == out_indices
    assert model.neck.in_channels == [width] * len(out_indices)
    assert model.test_cfg.mode == 'whole'


def test_segmentor_is_built_for_one_process():
    """The config's SyncBN layers are BatchNorm, as mmengine's Runner makes them without a launcher."""
    segmentor = build_segmentor(DEFAULT_SEGMENTOR_CONFIG, 'linear', 'dinov2_vits14', TINY_VIT)
    norms = [m for m in segmentor.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert norms and not any(isinstance(m, torch.nn.SyncBatchNorm) for m in norms)


def test_segmentor_keeps_the_configs_head_tile_unless_told():
    assert segmentor_model_config(DEFAULT_SEGMENTOR_CONFIG, 'linear', 'dinov2_vits14').test_cfg == dict(
        mode='whole', head_tile=512)
    untiled = segmentor_model_config(DEFAULT_SEGMENTOR_CONFIG, 'linear', 'dinov2_vits14', head_tile=0)
    assert untiled.test_cfg == dict(mode='whole', head_tile=None)


M2F_CITYSCAPES = osp.join(REPO, 'configs', 'adala_dinov2_l_cityscapes_mask2former_1024.py')


def test_mask2former_config_fits_the_arch():
    """Feature2Pyramid keeps the ViT's width, and Mask2Former's head reads it; it takes 4 blocks."""
    model = segmentor_model_config(M2F_CITYSCAPES, 'softmax', 'dinov2_vits14')
    assert tuple(model.backbone.out_indices) == (2, 5, 8, 11) and model.backbone.attn_type == 'softmax'
    assert model.neck.embed_dim == 384 and model.decode_head.in_channels == [384] * 4
    assert model.test_cfg == dict(mode='whole', head_tile=512)
    with pytest.raises(ValueError, match='Feature2Pyramid takes 4 blocks, the ViT has 2'):
        segmentor_model_config(M2F_CITYSCAPES, 'linear', 'dinov2_vits14', TINY_VIT)

