"""Mask2Former through the command-line tools at toy scale: tools/train.py lowers its loss on the
synthetic ADE20K-layout data, tools/test.py evaluates the checkpoint with the bounded head and
with MMSeg's whole-map head (the same mIoU), tools/infer.py segments a larger image whole.

The tools run in-process: an interpreter start with mmseg and mmdet would cost more than the run.
Top-level: it runs the command-line tools end to end, not one module.
"""
import glob
import importlib.util
import json
import os.path as osp

import cv2
import pytest
from tiny import TINY_CONFIGS

from mmseg_adala import test as test_tool
from mmseg_adala import train as train_tool
from mmseg_adala.datasets.synthetic_ade20k import make_synthetic_ade20k, write_synthetic_image

# Training, evaluation and inference of a Mask2Former.
pytestmark = pytest.mark.slow

REPO = osp.abspath(osp.join(TINY_CONFIGS, '..', '..'))
CONFIG = osp.join(TINY_CONFIGS, 'adala_mask2former_synthetic_tiny.py')
ITERS, LOG_INTERVAL = 20, 5


def test_tiny_mask2former_trains_evaluates_and_infers(tmp_path):
    data = str(tmp_path / 'data')
    make_synthetic_ade20k(data, num_train=16, num_val=4, image_size=128, num_classes=3)
    data_options = [f'{split}_dataloader.dataset.data_root={data}' for split in ('train', 'val', 'test')]
    work_dir = str(tmp_path / 'work')
    train_tool.main([CONFIG, '--work-dir', work_dir, '--no-amp', '--cfg-options', *data_options, 'randomness.seed=0',
                     'model.backbone.vit_cfg.init_values=1.0'])  # from scratch: LayerScale's 1e-5 would idle the blocks
    scalars_file, = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    losses = [entry['loss'] for entry in map(json.loads, open(scalars_file)) if 'loss' in entry]
    assert len(losses) == ITERS // LOG_INTERVAL and losses[-1] < losses[0], losses

    checkpoint = osp.join(work_dir, f'iter_{ITERS}.pth')
    bounded = test_tool.main([CONFIG, checkpoint, '--work-dir', work_dir, '--cfg-options', *data_options])
    whole = test_tool.main([CONFIG, checkpoint, '--work-dir', work_dir, '--cfg-options', *data_options,
                            'model.test_cfg.head_tile=None'])
    assert 0 < bounded['mIoU'] == whole['mIoU'] <= 100, (bounded, whole)

    spec = importlib.util.spec_from_file_location('infer_tool', osp.join(REPO, 'tools', 'infer.py'))
    infer_tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(infer_tool)
    label = write_synthetic_image(tmp_path / 'big.jpg', size=(300, 420), num_classes=3)
    assert infer_tool.main([CONFIG, checkpoint, str(tmp_path / 'big.jpg'), '--out-dir', str(tmp_path / 'out'),
                            '--device', 'cpu', '--scale', 'native', '--cfg-options', 'model.test_cfg.head_tile=56']) == 0
    labels = cv2.imread(str(tmp_path / 'out' / 'big_labels.png'), cv2.IMREAD_UNCHANGED)
    assert labels.shape == label.shape and labels.max() < 3
