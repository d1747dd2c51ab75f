"""tools/test.py (mmseg_adala/test.py): whole-image evaluation does not autotune cuDNN. Before: mmseg's
default_runtime set `cudnn_benchmark=True`, which autotunes again for every new image size."""
import os.path as osp

import torch
from mmseg.apis import init_model
from tiny import TINY_CONFIGS, synthetic_data_options

from mmseg_adala import test as test_tool
from mmseg_adala.datasets.synthetic_ade20k import make_synthetic_ade20k
from mmseg_adala.engine.run_config import load_run_config

STAGE3 = osp.join(TINY_CONFIGS, 'adala_upernet_synthetic_tiny.py')


def test_evaluation_leaves_cudnn_benchmark_off(tmp_path, monkeypatch):
    make_synthetic_ade20k(str(tmp_path / 'data'), num_train=1, num_val=1, image_size=64, num_classes=3)
    model = init_model(load_run_config(STAGE3, cfg_options={'model.backbone.init_cfg': None}), None, device='cpu')
    torch.save(dict(state_dict=model.state_dict()), tmp_path / 'segmentor.pth')
    monkeypatch.setattr(torch.backends.cudnn, 'benchmark', False)
    metrics = test_tool.main([STAGE3, str(tmp_path / 'segmentor.pth'), '--work-dir', str(tmp_path / 'work'),
                              '--cfg-options', *synthetic_data_options(str(tmp_path / 'data'))])
    assert 'mIoU' in metrics
    assert torch.backends.cudnn.benchmark is False
