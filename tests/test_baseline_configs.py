"""The LoLCATs and L2ViT-style configs: each stage's export loads into the next stage's backbone.

Top-level: it checks the repository's configs/, not a package module."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from tiny import TINY_CONFIGS

from mmseg_adala.benchmark import VARIANT_ATTENTION

CONFIGS = osp.abspath(osp.join(TINY_CONFIGS, '..'))
# DINOv2-L's 24 blocks (per-block attn_type lists have 24 entries) at a tiny width.
TINY_L = dict(embed_dim=48, depth=24, num_heads=2)


def _tiny(backbone_cfg, checkpoint=None):
    init_cfg = dict(type='Pretrained', checkpoint=checkpoint) if checkpoint else None
    return dict(backbone_cfg, vit_cfg=TINY_L, img_size=112, init_cfg=init_cfg)


@pytest.mark.parametrize('chain, attn_types', [
    (['lolcats/lolcats_stage1_dinov2_l_coco.py', 'lolcats/lolcats_dinov2_l_ade20k.py'], ['window_linear'] * 24),
    (['l2vit/l2vit_stage1_dinov2_l_coco.py', 'l2vit/l2vit_stage2_dinov2_l_in22k.py', 'l2vit/l2vit_dinov2_l_ade20k.py'],
     ['window', 'linear'] * 12),
])
def test_stage_exports_chain_into_the_next_stage(chain, attn_types, tmp_path):
    init_default_scope('mmseg')
    cfgs = [Config.fromfile(osp.join(CONFIGS, name)) for name in chain]
    for cfg, next_cfg in zip(cfgs, cfgs[1:]):  # each stage reads the export the previous one writes
        work_dir = osp.join('work_dirs', osp.splitext(osp.basename(cfg.filename))[0])
        wanted = (next_cfg.model.get('student') or next_cfg.model.backbone).init_cfg.checkpoint
        assert wanted == osp.join(work_dir, 'backbone_final.pth')

    export = None
    for model in (cfg.model for cfg in cfgs[:-1]):  # stage 1, then stage 2 if any
        student = dict(model.student, init_cfg=export) if model.type == 'FeatureAlignModel' else {}
        aligner = MODELS.build(dict(model, teacher=_tiny(model.teacher), **(dict(student=student) if student else {})))
        aligner.init_weights()  # a stage-2 student built for another kernel or window size raises here
        export = dict(type='Pretrained', checkpoint=str(tmp_path / f'{model.type}.pth'))
        torch.save(aligner.export_backbone(), export['checkpoint'])
    backbone = MODELS.build(_tiny(cfgs[-1].model.backbone, export['checkpoint']))
    backbone.init_weights()
    assert backbone.attn_types == attn_types


@pytest.mark.parametrize('variant, config', [('lolcats', 'lolcats/lolcats_dinov2_l_ade20k.py'),
                                             ('l2vit', 'l2vit/l2vit_dinov2_l_ade20k.py')])
def test_benchmark_variant_is_the_configs_attention(variant, config):
    """The benchmark times the configs' kernels (its L2ViT alternation lists ViT-S's 12 blocks)."""
    backbone = Config.fromfile(osp.join(CONFIGS, config)).model.backbone
    ours = VARIANT_ATTENTION[variant]
    assert ours['feature_map'] == backbone.feature_map and ours['attn_cfg'] == backbone.attn_cfg
    types = ours['attn_type']
    assert (types * (24 // len(types)) if isinstance(types, list) else types) == backbone.attn_type
