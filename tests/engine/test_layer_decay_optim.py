"""ViTLayerDecayOptimizerConstructor on a tiny AdaLAViT segmentor: each tensor's lr and weight decay."""
import logging

import pytest
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import mmseg_adala  # noqa: F401
from mmseg_adala.engine.layer_decay_optim import layer_id

BASE_LR, BASE_WD, DECAY = 1.0, 0.1, 0.5


@pytest.fixture(autouse=True)
def _mmseg_scope():
    init_default_scope('mmseg')  # as a Runner does for our configs (default_scope='mmseg')


def segmentor(**backbone):
    """A 3-block DINOv2-with-registers segmentor with DINOv2's linear head (BatchNorm + conv_seg)."""
    return MODELS.build(dict(
        type='EncoderDecoder',
        backbone=dict(type='AdaLAViT', arch='dinov2_vits14_reg', img_size=56,
                      vit_cfg=dict(embed_dim=48, depth=3, num_heads=2), **backbone),
        decode_head=dict(type='BNHead', in_channels=[48], in_index=[0], channels=48, num_classes=3)))


def param_groups(model, **paramwise_cfg):
    wrapper = build_optim_wrapper(model, dict(
        optimizer=dict(type='AdamW', lr=BASE_LR, weight_decay=BASE_WD),
        constructor='ViTLayerDecayOptimizerConstructor', paramwise_cfg=paramwise_cfg))
    return wrapper.optimizer.param_groups


def per_tensor(groups):
    """{name: (lr, weight_decay)}, asserting that each tensor is in one group."""
    settings = {}
    for group in groups:
        assert len(group['params']) == len(group['param_names'])
        for name in group['param_names']:
            assert name not in settings, name
            settings[name] = (group['lr'], group['weight_decay'])
    return settings


def expected(name, depth=3, conv_seg_lr_mult=None, decayed_norms=False):
    """BEiT's rule written out by hand: (lr, weight decay) of one parameter."""
    if name.startswith('backbone.vit.blocks.'):
        layer = int(name.split('.')[3]) + 1
    elif name.startswith(('backbone.vit.cls_token', 'backbone.vit.reg_token', 'backbone.vit.pos_embed',
                          'backbone.vit.patch_embed')):
        layer = 0
    else:
        layer = depth + 1
    lr = BASE_LR * DECAY ** (depth + 1 - layer)
    last = name.split('.')[-1]
    if conv_seg_lr_mult and 'conv_seg' in name:  # a custom key: its own lr_mult, the default decay
        return lr * conv_seg_lr_mult, BASE_WD
    if decayed_norms and ('norm' in name or '.bn.' in name):
        return lr, BASE_WD
    no_decay = last in ('bias', 'gamma', 'cls_token', 'reg_token', 'pos_embed') or 'norm' in name or '.bn.' in name
    return lr, 0.0 if no_decay else BASE_WD


def test_each_tensor_gets_the_hand_computed_lr_and_weight_decay():
    model = segmentor()
    settings = per_tensor(param_groups(model, decay_rate=DECAY, custom_keys={'conv_seg': dict(lr_mult=10.0)}))
    names = [name for name, p in model.named_parameters() if p.requires_grad]
    assert sorted(settings) == sorted(names)
    for name in names:
        assert settings[name] == pytest.approx(expected(name, conv_seg_lr_mult=10.0)), name
    # Spot checks of the rule itself, in numbers.
    assert settings['backbone.vit.reg_token'] == pytest.approx((0.5 ** 4, 0.0))
    assert settings['backbone.vit.blocks.0.ls1.gamma'] == pytest.approx((0.5 ** 3, 0.0))
    assert settings['backbone.vit.blocks.2.attn.qkv.weight'] == pytest.approx((0.5, 0.1))
    assert settings['decode_head.conv_seg.weight'] == pytest.approx((10.0, 0.1))


def test_paramwise_options_override_the_defaults():
    settings = per_tensor(param_groups(segmentor(), decay_rate=DECAY, norm_decay_mult=1.0))
    for name, values in settings.items():
        assert values == pytest.approx(expected(name, decayed_norms=True)), name
    assert settings['backbone.vit.blocks.1.norm2.weight'] == pytest.approx((0.25, 0.1))
    assert settings['backbone.vit.blocks.1.mlp.fc1.bias'] == pytest.approx((0.25, 0.0))


def test_one_group_per_layer_and_weight_decay():
    groups = param_groups(segmentor(), decay_rate=DECAY)
    keys = [(g['layer_id'], g['weight_decay']) for g in groups]
    assert sorted(keys) == [(layer, wd) for layer in range(5) for wd in (0.0, BASE_WD)]


def test_frozen_parameters_are_left_out():
    model = segmentor(frozen_blocks=2)
    settings = per_tensor(param_groups(model, decay_rate=DECAY))
    assert sorted(settings) == sorted(name for name, p in model.named_parameters() if p.requires_grad)
    assert not any(name.startswith(('backbone.vit.blocks.0.', 'backbone.vit.pos_embed')) for name in settings)
    assert settings['backbone.vit.blocks.2.attn.qkv.weight'] == pytest.approx((0.5, 0.1))


def test_per_layer_rates_are_logged_once():
    logger = MMLogger.get_instance('test-layer-decay-log', log_level='INFO')
    records = []
    handler = logging.Handler(logging.INFO)
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        param_groups(segmentor(), decay_rate=DECAY)
    finally:
        logger.removeHandler(handler)
    lines = [r.getMessage() for r in records if r.getMessage().startswith('ViTLayerDecayOptimizerConstructor')]
    assert len(lines) == 1
    assert '0: x0.0625 (4/5)' in lines[0] and '4: x1 (5/6)' in lines[0]


def test_layer_ids():
    assert layer_id('backbone.vit.reg_token', 24) == 0
    assert layer_id('backbone.vit.blocks.23.attn.proj.bias', 24) == 24
    assert layer_id('student.vit.blocks.3.ls1.gamma', 24) == 4
    assert layer_id('neck.convs.0.conv.weight', 24) == 25
    assert layer_id('backbone.vit.norm_pre.weight', 24) == 0  # CLIP's ln_pre, below the first block
    assert layer_id('backbone.vit.blocks.0.gamma_1', 24) == 1  # DINOv3's (Eva's) LayerScale
