import glob
import math
import os.path as osp
import re

import pytest
import timm
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmseg.structures import SegDataSample
from tiny import TINY_CONFIGS, TINY_VIT

from mmseg_adala.alignment import AttentionAlignModel, FeatureAlignModel
from mmseg_adala.models import AdaLAViT
from mmseg_adala.models.backbones import ARCHS, InputTooSmallError, timm_to_official_dinov2


def _timm_vit(arch, **overrides):
    vit = timm.create_model(ARCHS[arch].model_name, pretrained=False, num_classes=0, dynamic_img_size=True,
                            dynamic_img_pad=True, **overrides)
    for param in vit.parameters():  # random, not init values: LayerScale 1e-5 would hide attention errors
        torch.nn.init.normal_(param, std=0.05)
    return vit.eval()


def _backbone(arch, tmp_path, state, **kwargs):
    path = str(tmp_path / 'weights.pth')
    torch.save(state, path)
    backbone = AdaLAViT(arch=arch, init_cfg=dict(type='Pretrained', checkpoint=path), **kwargs)
    backbone.init_weights()
    return backbone.eval()


def _official_dinov2(vit):
    """The official DINOv2 release layout, with a non-zero cls position embedding for registers."""
    state = timm_to_official_dinov2(vit.state_dict())
    if 'register_tokens' in state:  # timm folds pos_embed[:, 0] into the cls token: make it matter
        cls_pos = torch.randn(1, vit.embed_dim)
        state['pos_embed'][:, 0] = cls_pos
        state['cls_token'] = state['cls_token'] - cls_pos
    return state


@pytest.mark.parametrize('arch', ['dinov2_vits14', 'dinov2_vits14_reg'])
def test_all_softmax_equals_timm(arch, tmp_path):
    """Full-size ViT-S: all-softmax AdaLAViT at the weights' own grid is timm's DINOv2 model."""
    vit = _timm_vit(arch, img_size=70)
    backbone = _backbone(arch, tmp_path, vit.state_dict(), attn_type='softmax', out_indices=(5, 11), img_size=70)
    x = torch.randn(1, 3, 70, 70)
    with torch.no_grad():
        expected = vit.forward_intermediates(x, indices=[5, 11], norm=True, intermediates_only=True)
        outs = backbone(x)
        torch.testing.assert_close(backbone.forward_tokens(x), vit.forward_features(x))
    assert [o.shape for o in outs] == [(1, 384, 5, 5)] * 2
    for out, ref in zip(outs, expected):
        torch.testing.assert_close(out, ref)


@pytest.mark.parametrize('arch', ['dinov2_vits14', 'dinov2_vits14_reg', 'dinov2_vitg14', 'dinov2_vitg14_reg'])
def test_official_checkpoint_loads(arch, tmp_path):
    """Hand-made official-format weights (mask_token, register_tokens, SwiGLU w12/w3) round-trip."""
    vit = _timm_vit(arch, **TINY_VIT)
    official = _official_dinov2(vit)
    assert 'mask_token' in official and ('register_tokens' in official) == arch.endswith('_reg')
    assert any('w12' in k for k in official) == ('vitg' in arch)
    backbone = _backbone(arch, tmp_path, official, vit_cfg=TINY_VIT, attn_type='softmax')
    for key, value in vit.state_dict().items():
        torch.testing.assert_close(backbone.vit.state_dict()[key], value, msg=key)


def _dinov2_tokens(official, images):
    """The tokens entering DINOv2's first block, from its published code (reference).

    `prepare_tokens_with_masks` and `interpolate_pos_encoding` of facebookresearch/dinov2
    (dinov2/models/vision_transformer.py), released-model settings: interpolate_offset=0.1,
    interpolate_antialias=False. Its `w` is the image height and `h` the width; registers
    are inserted after the position embedding, so they get none.
    """
    B, _, w, h = images.shape
    x = F.conv2d(images, official['patch_embed.proj.weight'], official['patch_embed.proj.bias'], stride=14)
    x = torch.cat((official['cls_token'].expand(B, -1, -1), x.flatten(2).transpose(1, 2)), dim=1)
    pos_embed = official['pos_embed'].float()
    npatch, N, dim = x.shape[1] - 1, pos_embed.shape[1] - 1, x.shape[-1]
    if not (npatch == N and w == h):
        w0, h0, M = w // 14, h // 14, int(math.sqrt(N))
        patch_pos_embed = F.interpolate(
            pos_embed[:, 1:].reshape(1, M, M, dim).permute(0, 3, 1, 2), mode='bicubic', antialias=False,
            scale_factor=(float(w0 + 0.1) / M, float(h0 + 0.1) / M))
        assert (w0, h0) == patch_pos_embed.shape[-2:]
        pos_embed = torch.cat((pos_embed[:, :1], patch_pos_embed.permute(0, 2, 3, 1).view(1, -1, dim)), dim=1)
    x = x + pos_embed
    if 'register_tokens' in official:
        x = torch.cat((x[:, :1], official['register_tokens'].expand(B, -1, -1), x[:, 1:]), dim=1)
    return x


@pytest.mark.parametrize('size', [(448, 448), (644, 392), (392, 644), (518, 518)])
@pytest.mark.parametrize('arch', ['dinov2_vits14', 'dinov2_vits14_reg'])
def test_position_embeddings_interpolated_as_dinov2(arch, size, tmp_path):
    """Official weights at 518 (37x37): at any grid the tokens are those of DINOv2's own code."""
    vit = _timm_vit(arch, **TINY_VIT)
    official = _official_dinov2(vit)
    backbone = _backbone(arch, tmp_path, official, vit_cfg=TINY_VIT, attn_type='softmax')
    x = torch.randn(1, 3, *size)
    with torch.no_grad():
        reference = backbone.vit.norm(backbone.vit.blocks(_dinov2_tokens(official, x)))
        torch.testing.assert_close(backbone.forward_tokens(x), reference)
        patches = reference[:, backbone.vit.num_prefix_tokens:].transpose(1, 2)
        torch.testing.assert_close(backbone(x)[0], patches.reshape(1, 48, size[0] // 14, size[1] // 14))


def test_checkpoint_of_another_grid_fails(tmp_path):
    """518 weights (37x37) in a backbone built for 512 (36x36) would be resampled twice."""
    official = _official_dinov2(_timm_vit('dinov2_vits14', **TINY_VIT))
    with pytest.raises(ValueError, match=r'checkpoint 37x37 \(img_size=518\), backbone 36x36 \(img_size=512\)'):
        _backbone('dinov2_vits14', tmp_path, official, vit_cfg=TINY_VIT, img_size=512)
    backbone = AdaLAViT(arch='dinov2_vits14', vit_cfg=TINY_VIT, img_size=512, init_cfg=dict(
        type='Pretrained', checkpoint=str(tmp_path / 'weights.pth'), strict=False))
    backbone.init_weights()  # on request: resampled at load, with a warning
    assert backbone.vit.pos_embed.shape[1] == 1 + 36 * 36


STAGE3_CONFIGS = sorted(osp.basename(p) for pattern in ('*ade20k.py', '*cityscapes*.py')
                        for p in glob.glob(osp.join(TINY_CONFIGS, '..', pattern)))


@pytest.mark.parametrize('config', STAGE3_CONFIGS)
def test_stage3_configs_keep_the_dinov2_grid(config):
    """The segmentation configs build the backbone at DINOv2's 37x37 grid, whatever their crop."""
    backbone_cfg = Config.fromfile(osp.join(TINY_CONFIGS, '..', config)).model.backbone
    backbone_cfg.update(vit_cfg=TINY_VIT, out_indices=(-1,), init_cfg=None)  # tiny: fast
    backbone_cfg.pop('type')
    assert AdaLAViT(**backbone_cfg).vit.pos_embed.shape[1] == 1 + 37 * 37


def test_linear_backbone_loads_softmax_weights(tmp_path):
    """A softmax checkpoint fills a linear backbone; only the learned feature maps stay at init."""
    vit = _timm_vit('dinov2_vits14', **TINY_VIT)
    backbone = _backbone('dinov2_vits14', tmp_path, vit.state_dict(), vit_cfg=TINY_VIT,
                         attn_type=['softmax', 'linear'], feature_map='hedgehog',
                         attn_cfg=dict(local_concentration=True))
    assert backbone.attn_types == ['softmax', 'linear']
    torch.testing.assert_close(backbone.vit.blocks[1].attn.qkv.weight, vit.blocks[1].attn.qkv.weight)
    assert backbone.vit.blocks[0].attn.feature_map is None
    identity = torch.eye(24).repeat(2, 1, 1)
    torch.testing.assert_close(backbone.vit.blocks[1].attn.feature_map.weight, identity)


def test_bad_checkpoints_raise_clear_errors(tmp_path):
    vit = _timm_vit('dinov2_vits14', **TINY_VIT)
    state = vit.state_dict()
    state['blocks.0.attn.extra'] = torch.zeros(1)
    del state['norm.weight']
    with pytest.raises(KeyError, match=r"norm\.weight(.|\n)*blocks\.0\.attn\.extra"):
        _backbone('dinov2_vits14', tmp_path, state, vit_cfg=TINY_VIT)
    backbone = AdaLAViT(arch='dinov2_vits14', vit_cfg=TINY_VIT, init_cfg=dict(
        type='Pretrained', checkpoint=str(tmp_path / 'weights.pth'), strict=False))
    backbone.init_weights()  # partial loading on request
    torch.testing.assert_close(backbone.vit.blocks[1].mlp.fc1.weight, vit.blocks[1].mlp.fc1.weight)

    with pytest.raises(RuntimeError, match='does not fit this backbone'):
        _backbone('dinov2_vitb14', tmp_path, vit.state_dict(), vit_cfg=dict(TINY_VIT, embed_dim=96))
    with pytest.raises(FileNotFoundError, match='no_such.pth'):
        AdaLAViT(arch='dinov2_vits14', vit_cfg=TINY_VIT,
                 init_cfg=dict(type='Pretrained', checkpoint='no_such.pth')).init_weights()


def test_segmentor_checkpoint_and_export_round_trip(tmp_path):
    backbone = AdaLAViT(arch='dinov2_vits14', vit_cfg=TINY_VIT).eval()
    segmentor_state = {f'backbone.vit.{k}': v for k, v in backbone.export_state_dict().items()}
    segmentor_state['decode_head.conv_seg.weight'] = torch.zeros(3)
    mmengine_meta = dict(iter=100, mmengine_version='0.10.7', dataset_meta=dict(classes=('a', 'b', 'c')))
    loaded = _backbone('dinov2_vits14', tmp_path, dict(state_dict=segmentor_state, meta=mmengine_meta),
                       vit_cfg=TINY_VIT)
    x = torch.randn(1, 3, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)[0], backbone(x)[0])


@pytest.mark.parametrize('size', [(224, 224), (518, 518), (500, 333), (1022, 1022)])
@pytest.mark.parametrize('attn_type', ['softmax', 'linear'])
def test_any_input_size(size, attn_type):
    backbone = AdaLAViT(arch='dinov2_vits14_reg', vit_cfg=TINY_VIT, attn_type=attn_type,
                        out_indices=(0, -1), with_cls_token=True,
                        attn_cfg=dict(local_concentration=attn_type == 'linear')).eval()
    with torch.no_grad():
        outs = backbone(torch.randn(1, 3, *size))
    grid = tuple(math.ceil(s / 14) for s in size)
    for spatial, cls_token in outs:
        assert spatial.shape == (1, 48, *grid) and cls_token.shape == (1, 48)
        assert torch.isfinite(spatial).all()


def test_min_grid_refuses_inputs_below_it_in_pixels():
    """One patch per side works by default; with min_grid=2 the smallest input is 15 px (2 patches of 14)."""
    one_patch = torch.randn(1, 3, 14, 30)
    assert AdaLAViT(arch='dinov2_vits14', vit_cfg=TINY_VIT).eval()(one_patch)[0].shape == (1, 48, 1, 3)
    backbone = AdaLAViT(arch='dinov2_vits14', vit_cfg=TINY_VIT, min_grid=2).eval()
    with pytest.raises(InputTooSmallError, match=r'14x30 px .* at least 15 px per side \(2 patches of 14 px'):
        backbone(one_patch)
    assert backbone(torch.randn(1, 3, 15, 30))[0].shape == (1, 48, 2, 3)


def test_freezing_and_layer_names():
    backbone = AdaLAViT(arch='dinov2_vits14', vit_cfg=dict(TINY_VIT, depth=3), frozen_blocks=2)
    backbone.train()
    trainable = {n for n, p in backbone.named_parameters() if p.requires_grad}
    assert all(n.startswith(('vit.blocks.2.', 'vit.norm.')) for n in trainable) and trainable
    assert not backbone.vit.blocks[0].training and backbone.vit.blocks[2].training
    frozen_all = AdaLAViT(arch='dinov2_vits14', vit_cfg=TINY_VIT, frozen_blocks='all')
    assert not any(p.requires_grad for p in frozen_all.parameters())


def test_configuration_errors():
    with pytest.raises(ValueError, match="unknown arch 'dinov9_vitl14'.*dinov2_vitl14"):
        AdaLAViT(arch='dinov9_vitl14')
    with pytest.raises(ValueError, match='resnet50.*VisionTransformer and Eva'):
        AdaLAViT(arch='resnet50')
    with pytest.raises(ValueError, match='2 blocks'):
        AdaLAViT(arch='dinov2_vits14', vit_cfg=TINY_VIT, attn_type=['linear'])
    with pytest.raises(ValueError, match='out of range'):
        AdaLAViT(arch='dinov2_vits14', vit_cfg=TINY_VIT, out_indices=(5,))
    with pytest.raises(ValueError, match=r'\(B, 3, H, W\)'):
        AdaLAViT(arch='dinov2_vits14', vit_cfg=TINY_VIT)(torch.randn(1, 1, 28, 28))


def _stage_export(stage, **student):
    """A stage-1 or stage-2 export of the tiny teacher: both stages take the student's attention alike."""
    teacher = dict(type='AdaLAViT', arch='dinov2_vits14', attn_type='softmax', vit_cfg=TINY_VIT)
    if stage == 1:
        return AttentionAlignModel(teacher=teacher, student=student).export_backbone()
    return FeatureAlignModel(teacher=teacher, student=dict(attn_type='linear', **student)).export_backbone()


@pytest.mark.parametrize('stage, student, config, message', [
    (1, dict(), dict(feature_map='hedgehog'), "feature_map: export 'elu', config 'hedgehog'"),
    (1, dict(), dict(attn_cfg=dict(local_concentration=True)), 'local_concentration: export False, config True'),
    (1, dict(feature_map='focused', attn_cfg=dict(feature_map_cfg=dict(power=3))),
     dict(feature_map='focused', attn_cfg=dict(feature_map_cfg=dict(power=2))),
     r"feature_map_cfg: export \{'power': 3\}, config \{'power': 2\}"),
    (2, dict(attn_cfg=dict(local_concentration=True)), dict(), 'local_concentration: export True, config False'),
    (2, dict(), dict(attn_type=['softmax', 'linear']),
     r"attn_type: export \['linear', 'linear'\], config \['softmax', 'linear'\]"),
    (2, dict(), dict(arch='dinov2_vits14_reg'), "arch: export 'dinov2_vits14', config 'dinov2_vits14_reg'"),
])
def test_stage_export_must_match_the_backbone(stage, student, config, message, tmp_path):
    """An export's meta names its variant: another one fails, naming both, instead of leaving
    the backbone's own parameters (feature map, local concentration) at their initialisation."""
    config = dict(dict(arch='dinov2_vits14', vit_cfg=TINY_VIT), **config)
    with pytest.raises(ValueError, match=message):
        _backbone(tmp_path=tmp_path, state=_stage_export(stage, **student), **config)


@pytest.mark.parametrize('stage, student, config', [
    (1, dict(), dict()),
    (1, dict(feature_map='hedgehog', attn_cfg=dict(local_concentration=True)),
     dict(feature_map='hedgehog', attn_cfg=dict(local_concentration=True, eps=1e-6))),
    (2, dict(feature_map='focused', attn_cfg=dict(feature_map_cfg=dict(power=3))),
     dict(feature_map='focused', attn_cfg=dict(feature_map_cfg=dict(power=3)))),
])
def test_stage_export_loads_into_its_variant(stage, student, config, tmp_path):
    export = _stage_export(stage, **student)
    loaded = _backbone(tmp_path=tmp_path, state=export, arch='dinov2_vits14', vit_cfg=TINY_VIT, **config)
    for key, value in export['state_dict'].items():
        torch.testing.assert_close(loaded.vit.state_dict()[key], value, msg=key)


def test_stage1_export_of_the_faithful_variants_loads_with_their_trained_parameters(tmp_path):
    """Hedgehog's key maps and FLatten's value convolution are stage-1 parameters: trained there,
    exported, checked against the meta and loaded (not left at their initialisation)."""
    student = dict(attn_type=['linear', 'window_linear'], feature_map='hedgehog', attn_cfg=dict(value_conv=5))
    teacher = dict(type='AdaLAViT', arch='dinov2_vits14', attn_type='softmax', vit_cfg=TINY_VIT)
    model = AttentionAlignModel(teacher=teacher, student=student)
    trained = {name for name, param in model.student_attns.named_parameters() if param.requires_grad}
    assert {'0.key_map.weight', '0.key_map.bias', '0.value_conv.conv.weight', '1.key_map.weight'} <= trained
    with torch.no_grad():
        for name, param in model.student_attns.named_parameters():
            if name.split('.')[1] in ('feature_map', 'key_map', 'value_conv'):
                param.normal_()
    export = model.export_backbone()
    loaded = _backbone('dinov2_vits14', tmp_path, export, vit_cfg=TINY_VIT, **student)
    state = loaded.vit.state_dict()
    assert {'blocks.0.attn.key_map.weight', 'blocks.1.attn.value_conv.conv.bias'} <= set(export['state_dict'])
    for key, value in export['state_dict'].items():
        torch.testing.assert_close(state[key], value, msg=key)
    with pytest.raises(ValueError, match='value_conv: export 5, config 0'):
        _backbone('dinov2_vits14', tmp_path, export, vit_cfg=TINY_VIT, attn_type=['linear', 'window_linear'],
                  feature_map='hedgehog')


# Inputs the backbone cannot segment fail with the reason, where they would otherwise give a silent
# wrong answer (a NaN pixel: every logit NaN, every pixel class 0) or an error far from the cause
# (an image too small: `Input and output sizes should be greater than 0` from MultiLevelNeck's 0.5 scale).

def predict(segmentor, images):
    """The segmentor's predictions for float (N, 3, H, W) images, as tools/infer.py asks for them."""
    shape = tuple(images.shape[-2:])
    samples = [SegDataSample(metainfo=dict(img_shape=shape, ori_shape=shape)) for _ in images]
    with torch.no_grad():
        return segmentor.test_step(dict(inputs=list(images), data_samples=samples))


@pytest.mark.parametrize('value, counts', [(float('nan'), '1 NaN and 0 inf'), (float('inf'), '0 NaN and 1 inf')])
def test_a_non_finite_pixel_is_an_error_that_says_where(value, counts, tiny_segmentor):
    images = torch.rand(2, 3, 32, 48) * 255
    images[1, 0, 5, 7] = value
    with pytest.raises(ValueError, match=re.escape(f'input of shape (2, 3, 32, 48) holds {counts} values (in images '
                                                   '[1] of the batch)') + '.*Check the image files'):
        predict(tiny_segmentor, images)
    assert all(sample.pred_sem_seg.data.shape == (1, 32, 48) for sample in predict(tiny_segmentor, images[:1]))


def test_the_non_finite_check_under_autocast_and_no_grad():
    backbone = AdaLAViT(arch='dinov2_vits14', vit_cfg=TINY_VIT).eval()
    images = torch.randn(2, 3, 28, 28)
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        assert torch.isfinite(backbone(images)[0]).all()
        images[0, 2, 3, 4] = -float('inf')
        for dtype in (torch.float32, torch.bfloat16):
            with pytest.raises(ValueError, match=r'0 NaN and 1 inf values \(in images \[0\] of the batch\)'):
                backbone(images.to(dtype))


def test_an_image_too_small_for_the_model_names_its_size_and_the_minimum(tiny_segmentor):
    with pytest.raises(ValueError, match=r'input of 14x40 px .* too small for this model: it needs at least 15 px '
                                         r'per side \(2 patches of 14 px'):
        predict(tiny_segmentor, torch.rand(1, 3, 14, 40) * 255)
    assert predict(tiny_segmentor, torch.rand(1, 3, 15, 40) * 255)[0].pred_sem_seg.data.shape == (1, 15, 40)
