"""The Mask2Former configs are MMSeg's recipes with our backbone, neck, optimiser and (Cityscapes)
the paper's crop, and nothing else; they build at full DINOv2-L size.

Top-level: it checks the repository's configs/, not a package module."""
import os.path as osp

import mmseg
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from test_configs import CONFIGS, _differences, effective_batch, load

import mmseg_adala  # noqa: F401

MMSEG_CONFIGS = osp.join(osp.dirname(mmseg.__file__), '.mim', 'configs', 'mask2former')
CITYSCAPES, ADE20K = 'adala_dinov2_l_cityscapes_mask2former_1024.py', 'adala_dinov2_l_ade20k_mask2former_512.py'
FAMILY_CONFIGS = {  # the paper's other backbones on Cityscapes: (config, arch)
    'siglip_l/adala_siglip_l_cityscapes_mask2former_1024.py': 'siglip_vitl16',
    'in1k_l/adala_in1k_l_cityscapes_mask2former_1024.py': 'in1k_vitl16',
}
ALL = [CITYSCAPES, 'softmax_' + CITYSCAPES[len('adala_'):], ADE20K, 'softmax_' + ADE20K[len('adala_'):],
       *FAMILY_CONFIGS, *(name.replace('/adala_', '/softmax_') for name in FAMILY_CONFIGS)]


@pytest.fixture(autouse=True)
def _mmseg_scope():
    init_default_scope('mmseg')


# What ours change in MMSeg's config, besides the model's backbone and neck and the optimiser
SHARED_CHANGES = {'custom_imports.imports', 'model.type', 'model.decode_head.in_channels', 'model.test_cfg.head_tile',
                  'model.data_preprocessor.mean', 'model.data_preprocessor.std', 'model.data_preprocessor.test_cfg',
                  'model.data_preprocessor.test_cfg.size_divisor', 'custom_hooks.0.type'}


@pytest.mark.parametrize('name, mmseg_name, extra', [
    (CITYSCAPES, 'mask2former_r50_8xb2-90k_cityscapes-512x1024.py',
     {'crop_size', 'model.data_preprocessor.size', 'train_dataloader.dataset.pipeline.3.crop_size',
      'train_pipeline.3.crop_size', 'custom_imports.allow_failed_imports'}),  # (MMSeg's imports nothing)
    (ADE20K, 'mask2former_r50_8xb2-160k_ade20k-512x512.py', set()),
])
def test_configs_are_mmsegs_recipe_with_our_model(name, mmseg_name, extra):
    # (read through mmseg::, MMSeg's keys name their scope)
    changed = {key for key in _differences(name, osp.join(MMSEG_CONFIGS, mmseg_name)) if not key.endswith('_scope_')}
    ours = {key for key in changed if key.startswith(('model.backbone.', 'model.neck.', 'optim_wrapper.', 'm2f_'))}
    assert changed - ours == SHARED_CHANGES | extra
    cfg, recipe = load(name), Config.fromfile(osp.join(MMSEG_CONFIGS, mmseg_name))
    assert effective_batch(cfg) == effective_batch(recipe) == 16
    assert cfg.train_cfg.max_iters == recipe.train_cfg.max_iters == (90000 if 'cityscapes' in name else 160000)
    crop = (1024, 1024) if 'cityscapes' in name else (512, 512)  # the paper's Cityscapes crop
    assert [t.crop_size for t in cfg.train_dataloader.dataset.pipeline if t.type == 'RandomCrop'] == [crop]
    assert cfg.model.test_cfg == dict(mode='whole', head_tile=512)
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.weight_decay, cfg.optim_wrapper.clip_grad.max_norm) == \
        ('AdamW', 2e-5, 0.05, 0.01)
    assert cfg.model.backbone.out_indices == (5, 11, 17, 23) and cfg.model.neck.type == 'Feature2Pyramid'


@pytest.mark.parametrize('name, arch', FAMILY_CONFIGS.items())
def test_family_configs_change_only_the_backbone(name, arch):
    assert _differences(name, CITYSCAPES) == {'model.backbone.arch', 'model.backbone.init_cfg.checkpoint',
                                              'stage2_export'}
    assert load(name).model.backbone.arch == arch
    softmax = name.replace('/adala_', '/softmax_')
    family = name.split('/')[0][:-len('_l')]
    assert _differences(softmax, name) == {'model.backbone.attn_type', 'model.backbone.init_cfg.checkpoint',
                                           f'{family}_checkpoint'}


@pytest.mark.parametrize('name', ALL)
def test_configs_build_at_full_size(name):
    cfg = load(name)
    with torch.device('meta'):  # DINOv2-L's 300M parameters, shapes only
        model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'AdaLAMask2Former'
    assert model.backbone.vit.embed_dim == model.neck.upsample_4x[0].in_channels == 1024
    assert model.decode_head.num_classes == (150 if 'ade20k' in name else 19)
    vit_params = sum(p.numel() for p in model.backbone.parameters())
    assert 300e6 < vit_params < 310e6, vit_params  # ViT-L
    assert model.backbone.attn_types[0] == ('softmax' if name.split('/')[-1].startswith('softmax') else 'linear')


def test_every_mask2former_config_is_tested():
    import glob
    found = {osp.relpath(p, CONFIGS) for p in glob.glob(osp.join(CONFIGS, '**', '*mask2former*.py'), recursive=True)}
    assert found - {'_base_/models/mask2former_adala_vit_l.py', 'tiny/adala_mask2former_synthetic_tiny.py'} == set(ALL)
