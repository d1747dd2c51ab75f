"""tools/test.py (mmseg_adala/test.py): evaluation scores a fitting checkpoint of either attention,
names empty test images before any work (rather than an OpenCV assertion part way through the test
set, naming no file), and does not autotune cuDNN (mmseg's default_runtime sets
`cudnn_benchmark=True`, which autotunes again for every new image size of whole-image evaluation)."""
import os.path as osp
import sys

import pytest
import torch
from mmseg.apis import init_model
from tiny import TINY_CONFIGS, synthetic_data_options
from tiny_runs import ITERS, SOFTMAX_STAGE3

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


@pytest.mark.slow
def test_evaluation_of_a_fitting_checkpoint(tmp_path, test_tool, synthetic_options, straight_run, softmax_checkpoint):
    metrics = test_tool.main([STAGE3, osp.join(straight_run, f'iter_{ITERS}.pth'), '--work-dir', str(tmp_path),
                              '--cfg-options', *synthetic_options])
    assert 0 <= metrics['mIoU'] <= 100
    metrics = test_tool.main([SOFTMAX_STAGE3, softmax_checkpoint, '--work-dir', str(tmp_path),
                              '--cfg-options', *synthetic_options])
    assert 0 <= metrics['mIoU'] <= 100


def test_evaluation_names_empty_test_images_before_any_work(tmp_path, test_tool, tiny_segmentor):
    data = tmp_path / 'data'
    make_synthetic_ade20k(str(data), num_train=1, num_val=3, image_size=64, num_classes=3)
    empty = data / 'images' / 'validation' / 'ADE_val_00000002.jpg'
    empty.write_bytes(b'')
    checkpoint = tmp_path / 'segmentor.pth'
    torch.save(dict(state_dict=tiny_segmentor.state_dict()), checkpoint)
    options = [f'{split}_dataloader.dataset.data_root={data}' for split in ('train', 'val', 'test')]
    with pytest.raises(SystemExit) as refused:
        test_tool.main([STAGE3, str(checkpoint), '--work-dir', str(tmp_path / 'work'), '--cfg-options', *options,
                        'model.backbone.init_cfg=None'])
    assert refused.value.code.startswith(f'{osp.basename(sys.argv[0])}: empty test image files (0 bytes), 1 in all: {empty}.')
