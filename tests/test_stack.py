"""The installed stack works together: compiled mmcv ops, an MMSeg segmentor with our backbone
built from a config that inherits MMSeg's own bases, and mmengine checkpoint resume.

Top-level: it tests the installed libraries with the package, not one module of it."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.structures import PixelData
from mmengine.runner import Runner
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules
from tiny import TINY_CONFIGS

import mmseg_adala  # noqa: F401
from mmseg_adala.datasets.synthetic_ade20k import make_synthetic_ade20k

SEGMENTOR = osp.join(TINY_CONFIGS, 'adala_upernet_synthetic_tiny.py')


@pytest.fixture(scope='module')
def synthetic_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('synthetic_ade20k')
    make_synthetic_ade20k(root, num_train=8, num_val=2, image_size=128, num_classes=3)
    return str(root)


def test_compiled_mmcv_ops():
    from mmcv.ops import nms
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [20., 20., 30., 30.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    _, keep = nms(boxes, scores, iou_threshold=0.5)  # box 1 overlaps box 0 with IoU 0.68
    assert keep.tolist() == [0, 2]


def test_segmentor_from_mmseg_bases_trains_on_cpu():
    register_all_modules()
    cfg = Config.fromfile(SEGMENTOR)
    # Values that only MMSeg's own bases set (mmseg::_base_/datasets/ade20k.py, default_runtime.py).
    assert cfg.dataset_type == 'ADE20KDataset' and cfg.tta_model.type == 'SegTTAModel'
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    model.init_weights()
    assert type(model).__name__ == 'AdaLAEncoderDecoder' and type(model.decode_head).__name__ == 'UPerHead'
    images = torch.rand(2, 3, 112, 112) * 255
    samples = []
    for _ in range(2):
        sample = SegDataSample(metainfo=dict(img_shape=(112, 112), pad_shape=(112, 112), ori_shape=(112, 112)))
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 3, (1, 112, 112)))
        samples.append(sample)
    data = model.data_preprocessor(dict(inputs=list(images), data_samples=samples), training=True)
    losses = model(**data, mode='loss')
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    assert torch.isfinite(total)
    assert model.backbone.vit.blocks[0].attn.qkv.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        predictions = model(**model.data_preprocessor(dict(inputs=list(images), data_samples=samples)),
                            mode='predict')
    assert predictions[0].pred_sem_seg.data.shape == (1, 112, 112)


@pytest.mark.slow
def test_runner_saves_and_resumes(tmp_path, synthetic_root):
    """2 iterations, save, resume to 4: the same weights as 4 iterations in one go.

    Head dropout is off: it draws from torch's RNG, whose state mmengine does not checkpoint.
    """
    def run(work_dir, max_iters, resume=False):
        cfg = Config.fromfile(SEGMENTOR)
        cfg.merge_from_dict({
            'work_dir': str(work_dir), 'model.backbone.init_cfg': None, 'resume': resume,
            'randomness': dict(seed=0), 'train_dataloader.batch_size': 2,
            'model.decode_head.dropout_ratio': 0.0, 'model.auxiliary_head.dropout_ratio': 0.0,
            'train_dataloader.dataset.data_root': synthetic_root,
            'val_dataloader.dataset.data_root': synthetic_root,
            'test_dataloader.dataset.data_root': synthetic_root,
            'train_cfg.max_iters': max_iters, 'train_cfg.val_interval': 100,
            'default_hooks.checkpoint.interval': 2})
        runner = Runner.from_cfg(cfg)
        runner.train()
        return runner

    straight = run(tmp_path / 'straight', 4).model.state_dict()
    run(tmp_path / 'resumed', 2)
    assert osp.exists(tmp_path / 'resumed' / 'iter_2.pth')
    resumed = run(tmp_path / 'resumed', 4, resume=True)
    assert resumed.iter == 4
    for key, value in straight.items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, atol=0, rtol=0, msg=key)
