"""checked_pipelines (applied by load_run_config) puts the sample checks into every data pipeline a
config has (training, validation, test, test-time augmentation), once, with the model's classes and
the pixel limit."""
import os.path as osp

from mmengine.config import Config
from tiny import TINY_CONFIGS

from mmseg_adala.engine.run_config import load_run_config

STAGE1 = osp.join(TINY_CONFIGS, 'adala_stage1_tiny.py')
STAGE3 = osp.join(TINY_CONFIGS, 'adala_upernet_synthetic_tiny.py')
LABEL_CHECK = dict(type='CheckLabelMap', num_classes=3, ignore_index=255)


def names(pipeline):
    return [t['type'] for t in pipeline]


def test_stage3_pipelines_check_images_and_labels():
    cfg = load_run_config(STAGE3, cfg_options={'max_image_pixels': 1000})
    train = cfg.train_dataloader.dataset.pipeline
    assert names(train)[:4] == ['CheckImageSize', 'LoadImageFromFile', 'LoadAnnotations', 'CheckLabelMap']
    # RandomResize(scale=(128, 128), ratio_range=(0.75, 1.5)): its smallest scale.
    assert train[0] == dict(type='CheckImageSize', max_pixels=1000, fit_scale=(96, 96))
    assert train[3] == LABEL_CHECK
    test = cfg.test_dataloader.dataset.pipeline
    assert names(test) == ['CheckImageSize', 'LoadImageFromFile', 'Resize', 'LoadAnnotations', 'CheckLabelMap',
                           'PackSegInputs']
    assert test[0]['fit_scale'] == (128, 128)
    steps = cfg.tta_pipeline[2]['transforms']
    load = next(i for i, step in enumerate(steps) if step[0]['type'] == 'LoadAnnotations')
    assert steps[load + 1] == [LABEL_CHECK]  # one alternative: every augmented copy is checked
    assert names(cfg.tta_pipeline)[0] == 'CheckImageSize'


def test_a_saved_config_loaded_again_gets_no_second_check(tmp_path):
    path = tmp_path / 'saved.py'
    load_run_config(STAGE3).dump(str(path))
    cfg = load_run_config(str(path))
    assert names(cfg.train_dataloader.dataset.pipeline).count('CheckLabelMap') == 1
    assert names(cfg.test_dataloader.dataset.pipeline).count('CheckImageSize') == 1
    assert sum(step == [LABEL_CHECK] for step in cfg.tta_pipeline[2]['transforms']) == 1


def test_unlabeled_stages_skip_huge_images():
    cfg = load_run_config(STAGE1, cfg_options={'max_image_pixels': 1000})
    for split in ('train', 'val'):
        load = getattr(cfg, f'{split}_dataloader').dataset.pipeline[0]
        assert load == dict(type='LoadImageOrSkip', max_pixels=1000)
    assert Config.fromfile(STAGE1).train_dataloader.dataset.pipeline[0] == dict(type='LoadImageOrSkip')
