"""The paper-scale configs hold the numbers their comments state, and build with tiny models.

Top-level, like test_baseline_configs and test_mask2former_configs: they check the repository's
configs/, not a package module."""
import glob
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS, MODELS, TRANSFORMS
from tiny import TINY_CONFIGS, TINY_VIT, make_image_folder

import mmseg_adala  # noqa: F401

CONFIGS = osp.abspath(osp.join(TINY_CONFIGS, '..'))
GPUS = 8  # every config states its batch for 8 GPUs


def load(name):
    return Config.fromfile(osp.join(CONFIGS, name))


@pytest.fixture(autouse=True)
def _mmseg_scope():
    init_default_scope('mmseg')


def effective_batch(cfg):
    return GPUS * cfg.train_dataloader.batch_size * cfg.optim_wrapper.get('accumulative_counts', 1)


PAPER_CONFIGS = sorted(glob.glob(osp.join(CONFIGS, '*.py')) + glob.glob(osp.join(CONFIGS, '*_l', '*.py')))


@pytest.mark.parametrize('path', PAPER_CONFIGS, ids=osp.basename)
def test_every_config_loads_and_logs_its_effective_batch(path):
    cfg = Config.fromfile(path)
    assert 'EffectiveBatchHook' in [hook['type'] for hook in cfg.custom_hooks]
    assert (cfg.optim_wrapper.type, cfg.optim_wrapper.dtype) == ('AmpOptimWrapper', 'bfloat16')  # README: needs a GPU


@pytest.mark.parametrize('name, images, steps', [
    ('adala_stage1_dinov2_l_coco.py', 64, 10000),
    ('adala_stage2_dinov2_l_in22k.py', 256, 30000),
])
def test_alignment_batches_and_schedules(name, images, steps):
    cfg = load(name)
    assert effective_batch(cfg) == images
    accumulated = cfg.optim_wrapper.get('accumulative_counts', 1)
    assert cfg.train_cfg.max_iters == steps * accumulated  # iterations, in mmengine's count
    warm_up, cosine = cfg.param_scheduler
    assert warm_up.end == cosine.begin == 500 * accumulated  # 500 optimizer steps of warm-up
    assert cosine.end == cfg.train_cfg.max_iters


def test_stage2_validates_on_a_held_out_slice_of_its_training_folder(tmp_path):
    cfg = load('adala_stage2_dinov2_l_in22k.py')
    train_cfg, val_cfg = cfg.train_dataloader.dataset, cfg.val_dataloader.dataset
    assert train_cfg.data_root == val_cfg.data_root == 'data/imagenet22k/train'
    assert val_cfg.test_mode and val_cfg.held_out and not train_cfg.get('held_out', False)
    assert train_cfg.held_out_every == val_cfg.held_out_every == 10000

    root = tmp_path / 'imagenet22k'
    for synset in ('n01', 'n02'):
        make_image_folder(root / synset, 30)
    data_root = dict(data_root=str(root), held_out_every=7)
    train = DATASETS.build(dict(train_cfg, **data_root))
    val = DATASETS.build(dict(val_cfg, **data_root))
    train_paths = {train.get_data_info(i)['img_path'] for i in range(len(train))}
    val_paths = {val.get_data_info(i)['img_path'] for i in range(len(val))}
    assert len(val_paths) == 9 and len(train_paths) == 51 and not train_paths & val_paths
    assert val[0]['inputs'].shape == (3, 518, 518)


@pytest.mark.parametrize('name, model_cfg', [
    ('adala_stage1_dinov2_l_coco.py', 'adala_stage1_tiny.py'),
    ('adala_stage2_dinov2_l_in22k.py', 'adala_stage2_tiny.py'),
])
def test_alignment_weight_decay_spares_what_must_stay_the_teachers(name, model_cfg):
    cfg = load(name)
    model = MODELS.build(Config.fromfile(osp.join(TINY_CONFIGS, model_cfg)).model)
    # The same optimizer with autocast off (AmpOptimWrapper needs a GPU).
    wrapper_cfg = {key: value for key, value in cfg.optim_wrapper.items() if key != 'dtype'}
    optimizer = build_optim_wrapper(model, dict(wrapper_cfg, type='OptimWrapper')).optimizer
    weight_decay = {name: group['weight_decay'] for group in optimizer.param_groups for name in group['param_names']}
    trained = {name for name, p in model.named_parameters() if p.requires_grad}
    assert set(weight_decay) == trained  # the frozen teacher is not in the optimizer
    for param_name, wd in weight_decay.items():
        last = param_name.split('.')[-1]
        matrix = last == 'weight' and 'norm' not in param_name
        assert wd == (0.05 if matrix else 0.0), param_name
    if name.startswith('adala_stage2'):
        for kept in ('student.vit.cls_token', 'student.vit.pos_embed', 'student.vit.blocks.0.ls1.gamma',
                     'student.vit.blocks.1.norm2.bias', 'student.vit.norm.weight'):
            assert weight_decay[kept] == 0.0


def test_upernet_auxiliary_head_reads_the_last_block():
    cfg = load('adala_dinov2_l_ade20k.py')
    assert effective_batch(cfg) == 16
    assert cfg.model.backbone.out_indices[cfg.model.auxiliary_head.in_index] == 23
    assert cfg.model.test_cfg.mode == 'whole'


@pytest.mark.parametrize('name, base', [('adala_dinov2_l_ade20k_slide.py', 'adala_dinov2_l_ade20k.py'),
                                        ('softmax_dinov2_l_ade20k_slide.py', 'softmax_dinov2_l_ade20k.py')])
def test_slide_configs_change_only_the_test(name, base):
    slide, whole = load(name).to_dict(), load(base).to_dict()
    assert slide['model'].pop('test_cfg') == dict(mode='slide', crop_size=(512, 512), stride=(341, 341))
    whole['model'].pop('test_cfg')
    assert slide == whole


def tiny_segmentor(cfg, blocks):
    """cfg.model with a 24-block ViT of width 48 (the head fitted to it), in eval mode."""
    model_cfg = cfg.model.copy()
    model_cfg.backbone.update(arch='dinov2_vits14', vit_cfg=dict(TINY_VIT, depth=24), img_size=56, init_cfg=None)
    model_cfg.decode_head.update(in_channels=[48] * blocks, channels=48 * blocks, norm_cfg=dict(type='BN'))
    return MODELS.build(model_cfg).eval()


@pytest.mark.parametrize('name, blocks, crop, stride', [
    ('adala_dinov2_l_linear_ade20k.py', (23,), 512, 341),
    ('adala_dinov2_l_linear_ms_ade20k.py', (20, 21, 22, 23), 640, 320),
])
def test_linear_probes_follow_dinov2(name, blocks, crop, stride):
    cfg = load(name)
    assert effective_batch(cfg) == 16 and cfg.train_cfg.max_iters == 40000
    assert cfg.model.backbone.out_indices == blocks and cfg.model.backbone.frozen_blocks == 'all'
    assert cfg.model.decode_head.in_index == list(range(len(blocks)))
    assert cfg.model.test_cfg == dict(mode='slide', crop_size=(crop, crop), stride=(stride, stride))
    assert cfg.optim_wrapper.optimizer.lr == 1e-3 and cfg.optim_wrapper.optimizer.weight_decay == 1e-4
    warm_up, poly = cfg.param_scheduler
    assert (warm_up.type, warm_up.end, poly.begin, poly.end) == ('LinearLR', 1500, 1500, 40000)

    model = tiny_segmentor(cfg, len(blocks))
    assert all(not p.requires_grad for p in model.backbone.parameters())
    image = torch.rand(1, 3, 84, 112)
    with torch.no_grad():
        logits = model.inference(image, [dict(img_shape=(84, 112), ori_shape=(84, 112), pad_shape=(84, 112))])
    assert logits.shape == (1, 150, 84, 112)


def test_linear_ms_tests_five_scales_and_their_flips(tmp_path):
    cfg = load('adala_dinov2_l_linear_ms_ade20k.py')
    assert effective_batch(cfg) == 16
    train_crop = [t for t in cfg.train_dataloader.dataset.pipeline if t.type == 'RandomCrop']
    assert train_crop[0].crop_size == (640, 640)
    image = (np.random.rand(100, 150, 3) * 255).astype(np.uint8)
    label = np.random.randint(0, 5, (100, 150), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / 'a.jpg'), image)
    cv2.imwrite(str(tmp_path / 'a.png'), label)
    tta = TRANSFORMS.build(cfg.tta_pipeline[1])
    loaded = TRANSFORMS.build(cfg.tta_pipeline[0])(dict(img_path=str(tmp_path / 'a.jpg'),
                                                        seg_map_path=str(tmp_path / 'a.png'),
                                                        reduce_zero_label=True, seg_fields=[]))
    out = tta(loaded)
    shapes = [tuple(x.shape[1:]) for x in out['inputs']]
    short_sides = sorted({min(shape) for shape in shapes})
    assert short_sides == [int(640 * r) for r in (1.0, 1.32, 1.73, 2.28, 3.0)]
    assert len(shapes) == 10 and sorted(s.flip for s in out['data_samples']) == [False] * 5 + [True] * 5


def _flat(entries, prefix=''):
    """A config as {dotted key: value}, lists of dicts included (pipelines)."""
    if isinstance(entries, dict):
        return {k: v for key, value in entries.items() for k, v in _flat(value, f'{prefix}{key}.').items()}
    if isinstance(entries, (list, tuple)) and any(isinstance(e, dict) for e in entries):
        return {k: v for i, value in enumerate(entries) for k, v in _flat(value, f'{prefix}{i}.').items()}
    return {prefix[:-1]: entries}


def _differences(name, base):
    ours, theirs = _flat(load(name).to_dict()), _flat(load(base).to_dict())
    return {key for key in set(ours) | set(theirs) if ours.get(key, '<absent>') != theirs.get(key, '<absent>')}


# Each family's configs are the DINOv2-L ones with another model: arch and weights, and for
# patch 16 the alignment crops of 512 px (32 patches) instead of 518 (37 patches of 14 px).
FAMILIES = {'clip': ('clip_vitl14', 14), 'siglip': ('siglip_vitl16', 16), 'dinov3': ('dinov3_vitl16', 16)}


@pytest.mark.parametrize('family', FAMILIES)
@pytest.mark.slow
def test_family_configs_change_only_the_model(family):
    arch, patch = FAMILIES[family]
    weights = {f'{family}_checkpoint', 'stage1_export', 'stage2_export'}
    crops = set() if patch == 14 else {
        'patch16_crop_size', 'patch16_train_pipeline.1.size', 'patch16_val_pipeline.1.scale',
        'train_dataloader.dataset.pipeline.1.size', 'val_dataloader.dataset.pipeline.1.scale'}
    for stage, dinov2, model in (('adala_stage1_{}_l_coco.py', 'adala_stage1_dinov2_l_coco.py', 'teacher'),
                                 ('adala_stage2_{}_l_in22k.py', 'adala_stage2_dinov2_l_in22k.py', 'teacher'),
                                 ('adala_{}_l_ade20k.py', 'adala_dinov2_l_ade20k.py', 'backbone')):
        name = f'{family}_l/' + stage.format(family)
        changed = _differences(name, dinov2) - weights - crops
        changed -= {key for key in changed if key.startswith(('patch16_train_pipeline', 'patch16_val_pipeline'))}
        allowed = {f'model.{model}.arch', f'model.{model}.init_cfg.checkpoint', 'model.student.init_cfg.checkpoint'}
        assert changed <= allowed, (name, changed - allowed)
        cfg = load(name)
        assert cfg.model[model].arch == arch
        if patch == 16:  # (patch 14: 512-px crops are resized to 518, as for DINOv2)
            crops_px = [step['size'] for step in cfg.train_dataloader.dataset.get('pipeline', [])
                        if step['type'] == 'RandomResizedCrop'] or [cfg.crop_size[0]]
            assert all(size % patch == 0 for size in crops_px), (name, crops_px)
    for stage in (1, 2):
        tiny = Config.fromfile(osp.join(TINY_CONFIGS, f'{family}_stage{stage}_tiny.py'))
        assert tiny.model.teacher.arch == arch
