"""Stage 3 through the command-line tools: train the tiny UperNet, then tools/test.py's mIoU.

It checks that the method learns at all (far above chance), which no shorter run shows. Top-level: it
runs the command-line tools end to end, not one module."""
import os.path as osp
import re
import subprocess
import sys

import pytest
from tiny import TINY_CONFIGS

from mmseg_adala.datasets.synthetic_ade20k import make_synthetic_ade20k

# 400 iterations of training, in subprocesses.
pytestmark = pytest.mark.slow

REPO = osp.abspath(osp.join(TINY_CONFIGS, '..', '..'))
CONFIG = osp.join(TINY_CONFIGS, 'adala_upernet_synthetic_tiny.py')
ITERS = 400
# A random guess scores IoU f / (2 - f) on a class of frequency f: 1 / (2K - 1) = 20 mIoU for K = 3.
CHANCE_MIOU = 20.0


def test_tiny_upernet_learns_far_above_chance(tmp_path):
    data = str(tmp_path / 'data')
    make_synthetic_ade20k(data, num_train=200, num_val=50, image_size=128, num_classes=3)
    data_options = [f'{split}_dataloader.dataset.data_root={data}' for split in ('train', 'val', 'test')]
    work_dir = str(tmp_path / 'work')
    subprocess.run([sys.executable, osp.join(REPO, 'tools', 'train.py'), CONFIG, '--work-dir', work_dir,
                    '--cfg-options', *data_options, 'model.backbone.init_cfg=None', 'randomness.seed=0',
                    # From scratch: DINOv2's LayerScale init (1e-5) would keep the blocks idle.
                    'model.backbone.vit_cfg.init_values=1.0',
                    f'train_cfg.max_iters={ITERS}', f'train_cfg.val_interval={ITERS}',
                    f'param_scheduler.1.end={ITERS}', f'default_hooks.checkpoint.interval={ITERS}'],
                   check=True, capture_output=True)
    result = subprocess.run([sys.executable, osp.join(REPO, 'tools', 'test.py'), CONFIG,
                             osp.join(work_dir, f'iter_{ITERS}.pth'), '--work-dir', work_dir,
                             '--cfg-options', *data_options, 'model.backbone.init_cfg=None'],
                            check=True, capture_output=True, text=True)
    miou = float(re.search(r'mIoU: ([\d.]+)', result.stdout + result.stderr).group(1))
    assert miou > CHANCE_MIOU + 15, miou
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read().strip().endswith(f'iter_{ITERS}.pth')
