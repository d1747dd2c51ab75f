"""One shape of attention settings: stage 1 takes it, every export records it, every loader compares it."""
import pytest
import torch
from tiny import TINY_VIT

from mmseg_adala.alignment import AttentionAlignModel
from mmseg_adala.models import AdaLAViT
from mmseg_adala.models.backbones.attention_settings import (attention_differences, attention_settings,
                                                             per_layer_attn_types)

TEACHER = dict(type='AdaLAViT', arch='dinov2_vits14', attn_type='softmax', vit_cfg=TINY_VIT)
L2VIT = dict(attn_type=['window', 'linear'], feature_map='relu', attn_cfg=dict(window_size=2, local_concentration=True))


def _load(export, tmp_path, **settings):
    path = str(tmp_path / 'export.pth')
    torch.save(export, path)
    backbone = AdaLAViT(arch='dinov2_vits14', vit_cfg=TINY_VIT, init_cfg=dict(type='Pretrained', checkpoint=path),
                        **settings)
    backbone.init_weights()
    return backbone


def test_stage1_meta_is_the_backbone_variant_and_loads_back(tmp_path):
    export = AttentionAlignModel(TEACHER, student=L2VIT).export_backbone()
    backbone = _load(export, tmp_path, **L2VIT)
    variant = dict(backbone.variant)
    assert variant.pop('block_local_concentration') is False  # stage 1 aligns attentions: it has no blocks
    assert export['meta'] == dict(stage='attention_align', **variant)
    assert export['meta']['attn_cfg'] == L2VIT['attn_cfg'] and export['meta']['attn_type'] == ['window', 'linear']
    state = backbone.vit.state_dict()
    for key, value in export['state_dict'].items():
        torch.testing.assert_close(state[key], value, msg=key)


def test_a_stage1_export_of_another_attention_is_refused_naming_the_setting(tmp_path):
    export = AttentionAlignModel(TEACHER, student=L2VIT).export_backbone()
    with pytest.raises(ValueError, match=r"attn_cfg\.window_size: export 2, config 14\n.*strict=False"):
        _load(export, tmp_path, **dict(L2VIT, attn_cfg=dict(local_concentration=True)))


def test_a_flat_meta_reads_as_the_nested_settings(tmp_path):
    """A stage export whose meta holds the attention options beside attn_type still loads, and is still checked."""
    export = AttentionAlignModel(TEACHER, student=L2VIT).export_backbone()
    meta = export['meta']
    export['meta'] = dict(stage=meta['stage'], arch=meta['arch'], attn_type=meta['attn_type'],
                          feature_map=meta['feature_map'], window_size=2, local_concentration=True)
    assert attention_settings(export['meta']) == attention_settings(meta)
    _load(export, tmp_path, **L2VIT)
    with pytest.raises(ValueError, match='attn_cfg.local_concentration: export True, config False'):
        _load(export, tmp_path, **dict(L2VIT, attn_cfg=dict(window_size=2)))


def test_differences_count_what_changes_the_computation_only():
    linear = dict(attn_type='linear', feature_map='elu')
    assert attention_differences(linear, dict(attn_type=['linear'] * 24)) == []  # one name for all blocks
    assert attention_differences(linear, dict(linear, attn_cfg=dict(eps=1e-6, feature_map_cfg=None))) == []
    assert attention_differences(dict(L2VIT, attn_cfg=dict(L2VIT['attn_cfg'], init_window_factor=-2.)), L2VIT) == []
    assert attention_differences(linear, dict(linear, block_local_concentration=True)) == []  # one side has no blocks
    assert attention_differences(dict(linear, block_local_concentration=False), dict(
        attn_type=['softmax', 'linear'], feature_map='relu', block_local_concentration=True)) == [
        ('attn_type', 'linear', ['softmax', 'linear']), ('feature_map', 'elu', 'relu'),
        ('block_local_concentration', False, True)]


def test_settings_are_plain_and_per_layer_with_a_depth():
    settings = attention_settings(dict(type='AdaLAViT', arch='dinov2_vits14', feature_map='hedgehog',
                                       init_cfg=dict(type='Pretrained')), depth=3)
    assert settings == dict(attn_type=['linear'] * 3, feature_map='hedgehog', attn_cfg={})
    with pytest.raises(ValueError, match='3 entries for 2 blocks'):
        per_layer_attn_types(['linear'] * 3, 2)
    with pytest.raises(ValueError, match=r"unknown attn_type \['performer'\]"):
        per_layer_attn_types('performer', 2)


def test_stage1_refuses_what_is_not_an_attention_setting():
    with pytest.raises(ValueError, match='block_local_concentration.*stage 2'):
        AttentionAlignModel(TEACHER, student=dict(attn_type='linear', block_local_concentration=True))
