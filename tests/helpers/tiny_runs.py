"""Short runs of the tiny configs, and the files made from them, that tests of several modules share.

The runs are a handful of iterations of the tiny stage-1 and stage-3 models (stage 3 with dropout
and drop path on, a checkpoint and a validation every 2 iterations), made once per test session
(fixtures registered by tests/conftest.py) because resuming, evaluating, loading and checkpoint
tests all need real checkpoints of them. The tools run in-process: an interpreter start with
mmseg would cost more than the runs.
"""
import argparse
import importlib
import os.path as osp

import numpy as np
import pytest
import torch
from mmseg.apis import init_model
from tiny import TINY_CONFIGS

from mmseg_adala.datasets.synthetic_ade20k import make_synthetic_ade20k
from mmseg_adala.engine.run_config import load_run_config

REPO = osp.abspath(osp.join(TINY_CONFIGS, '..', '..'))
STAGE1 = osp.join(TINY_CONFIGS, 'adala_stage1_tiny.py')
STAGE2 = osp.join(TINY_CONFIGS, 'adala_stage2_tiny.py')
STAGE3 = osp.join(TINY_CONFIGS, 'adala_upernet_synthetic_tiny.py')
SOFTMAX_STAGE3 = osp.join(TINY_CONFIGS, 'softmax_upernet_synthetic_tiny.py')
ITERS = 6


@pytest.fixture(scope='session')
def train_tool():
    """What tools/train.py and `python -m mmseg_adala.train` run."""
    return importlib.import_module('mmseg_adala.train')


@pytest.fixture(scope='session')
def test_tool():
    """What tools/test.py and `python -m mmseg_adala.test` run."""
    return importlib.import_module('mmseg_adala.test')


@pytest.fixture(scope='session')
def synthetic_options(tmp_path_factory):
    """`--cfg-options` of the tiny stage-3 config on a small synthetic ADE20K set, backbone at random."""
    data = str(tmp_path_factory.mktemp('synthetic'))
    make_synthetic_ade20k(data, num_train=8, num_val=2, image_size=128, num_classes=3)
    return [f'{split}_dataloader.dataset.data_root={data}' for split in ('train', 'val', 'test')] + [
        'model.backbone.init_cfg=None']


@pytest.fixture(scope='session')
def stage3_options(synthetic_options):
    """A 6-iteration stage 3 with dropout (the heads' 0.1) and drop path, checkpoint + validation every 2."""
    return [*synthetic_options, 'model.backbone.drop_path_rate=0.1', 'randomness.seed=0',
            'train_dataloader.batch_size=2', f'train_cfg.max_iters={ITERS}', 'train_cfg.val_interval=2',
            'default_hooks.checkpoint.interval=2', 'default_hooks.logger.interval=1']


@pytest.fixture(scope='session')
def straight_run(tmp_path_factory, train_tool, stage3_options):
    """The uninterrupted run: its work_dir, with iter_2/4/6.pth."""
    work_dir = str(tmp_path_factory.mktemp('straight'))
    train_tool.main([STAGE3, '--work-dir', work_dir, '--cfg-options', *stage3_options])
    return work_dir


@pytest.fixture(scope='session')
def stage1_run(tmp_path_factory, train_tool, teacher_checkpoint, image_folders):
    """Two iterations of stage 1: its work_dir, with iter_2.pth and backbone_iter_2.pth."""
    work_dir = str(tmp_path_factory.mktemp('stage1'))
    train, val = image_folders
    train_tool.main([STAGE1, '--work-dir', work_dir, '--cfg-options',
                     f'model.teacher.init_cfg.checkpoint={teacher_checkpoint}',
                     f'train_dataloader.dataset.data_root={train}', f'val_dataloader.dataset.data_root={val}',
                     'train_cfg.max_iters=2', 'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=2'])
    return work_dir


@pytest.fixture(scope='session')
def softmax_checkpoint(tmp_path_factory, train_tool, stage3_options):
    """One iteration of the softmax stage 3: its iter_1.pth."""
    work_dir = str(tmp_path_factory.mktemp('softmax'))
    train_tool.main([SOFTMAX_STAGE3, '--work-dir', work_dir, '--cfg-options', *stage3_options,
                     'train_cfg.max_iters=1', 'default_hooks.checkpoint.interval=1'])
    return osp.join(work_dir, 'iter_1.pth')


@pytest.fixture(scope='session')
def tiny_segmentor():
    """The tiny stage-3 segmentor (UperNet behind MultiLevelNeck), random weights, in eval mode."""
    return init_model(load_run_config(STAGE3, cfg_options={'model.backbone.init_cfg': None}), None, device='cpu')


def write_bad_checkpoint(path, kind):
    """A file at `path` that is no loadable checkpoint, of a kind from test_checkpoint_file.BAD_CHECKPOINTS."""
    if kind == 'tensor':
        torch.save(torch.zeros(3), path)
    elif kind == 'pickled_object':
        torch.save(dict(state_dict={}, args=argparse.Namespace(lr=0.1)), path)
    else:
        random = np.random.default_rng(0).integers(0, 256, 1000, dtype=np.uint8).tobytes()
        path.write_bytes(dict(empty=b'', random=random, text=b'abc')[kind])
