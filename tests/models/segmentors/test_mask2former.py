"""AdaLAMask2Former predicts what MMSeg's EncoderDecoder + Mask2FormerHead predicts, whole or in
bounded pieces (neck tiles, query chunks, row bands)."""
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from test_encoder_decoder import predict, samples
from tiny import TINY_CONFIGS

import mmseg_adala  # noqa: F401  (registers AdaLAMask2Former)
from mmseg_adala.models.backbones import resolve_arch
from mmseg_adala.models.segmentors import bounded_mask2former, label_maps

CONFIG = f'{TINY_CONFIGS}/adala_mask2former_synthetic_tiny.py'


def model_cfg():
    init_default_scope('mmseg')
    cfg = Config.fromfile(CONFIG).model
    cfg.data_preprocessor.size = None
    cfg.data_preprocessor.update(resolve_arch(cfg.backbone.arch).normalisation)  # MMSeg's model fills in none
    return cfg


@pytest.fixture(scope='module')
def pair():
    """(MMSeg's EncoderDecoder, AdaLAMask2Former) with the same random tiny weights, in eval mode."""
    cfg = model_cfg()
    torch.manual_seed(0)
    reference = MODELS.build(dict(cfg, type='EncoderDecoder'))
    for module in reference.modules():  # normalisations far from the identity
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2)
        if isinstance(module, (torch.nn.BatchNorm2d, torch.nn.GroupNorm)):
            module.weight.data.normal_(1, 0.5)
            module.bias.data.normal_(0, 0.5)
    ours = MODELS.build(dict(cfg, type='AdaLAMask2Former'))
    ours.load_state_dict(reference.state_dict())
    return reference.eval(), ours.eval()


@pytest.mark.parametrize('size,tile,meta', [
    ((84, 98), 28, dict()),
    ((98, 70), 40, dict(padding=(0, 9, 0, 5), ori=(150, 101))),
    ((112, 84), 1000, dict(flip='horizontal', ori=(61, 97))),
])
def test_labels_and_logits_equal_mmseg(pair, size, tile, meta, monkeypatch):
    # every piece as small as it gets: 1 query per chunk, 1 row per band, 2x2-patch neck tiles
    monkeypatch.setattr(bounded_mask2former, 'CHUNK_BYTES', 1)
    monkeypatch.setattr(label_maps, 'BAND_BYTES', 1)
    reference, ours = pair
    image = torch.randn(1, 3, *size)
    expected = predict(reference, image, samples(*size, **meta), dict(mode='whole'))[0]
    scale = expected.seg_logits.data.abs().max().item()
    for head_tile in (tile, None):  # bounded, and MMSeg's head on the whole map
        got = predict(ours, image, samples(*size, **meta), dict(mode='whole', head_tile=head_tile, keep_logits=True))[0]
        torch.testing.assert_close(got.seg_logits.data, expected.seg_logits.data, rtol=1e-4, atol=1e-5 * scale)
        assert torch.equal(got.pred_sem_seg.data, expected.pred_sem_seg.data)


def test_bounded_head_logits_equal_mmseg_at_the_input_size(pair):
    """head_logits (what tools/check_head_tiling.py compares at full size): two images, no metas."""
    _, ours = pair
    image = torch.randn(2, 3, 70, 70)
    with torch.no_grad():
        feats = ours.backbone(image)
        whole = ours.head_logits(feats, 70)
        tiled = ours.head_logits(list(feats), 70, head_tile=28)
    assert whole.shape == tiled.shape == (2, 3, 70, 70)
    torch.testing.assert_close(tiled, whole, rtol=1e-4, atol=1e-5 * whole.abs().max().item())


def test_slide_mode_is_mmsegs_with_each_window_at_its_size(pair):
    """MMSeg's Mask2Former resizes each window's masks to the image's pad_shape and fails; without
    one it resizes them to the window's img_shape, which is ours."""
    reference, ours = pair
    image = torch.randn(1, 3, 98, 126)
    cfg = dict(mode='slide', crop_size=(70, 70), stride=(56, 56))
    with pytest.raises(RuntimeError, match='must match the size'):
        predict(reference, image, samples(98, 126), cfg)
    meta = {key: value for key, value in samples(98, 126)[0].metainfo.items() if key != 'pad_shape'}
    expected = predict(reference, image, [SegDataSample(metainfo=meta)], cfg)[0]
    got = predict(ours, image, samples(98, 126), dict(cfg, head_tile=28))[0]
    assert torch.equal(got.pred_sem_seg.data, expected.pred_sem_seg.data)


def test_training_step_is_mmsegs_loss(pair):
    reference, ours = pair
    image = torch.randn(2, 3, 56, 56)
    data = [SegDataSample(gt_sem_seg=PixelData(data=torch.randint(0, 3, (1, 56, 56))),
                          metainfo=dict(img_shape=(56, 56), pad_shape=(56, 56))) for _ in image]
    for model in pair:
        model.train()
    try:
        torch.manual_seed(0)  # the point sampling of the mask loss
        expected = reference.loss(image, data)
        torch.manual_seed(0)
        got = ours.loss(image, data)
    finally:
        for model in pair:
            model.eval()
    assert expected.keys() == got.keys() and len(got) > 9
    for key in expected:
        torch.testing.assert_close(got[key], expected[key])


@pytest.mark.slow
def test_the_package_works_without_mmdet_and_mask2former_names_the_extra():
    """Only AdaLAMask2Former needs mmdet; without it, it says how to install it."""
    code = """
import sys
sys.modules['mmdet'] = None  # as if not installed
import mmseg_adala, mmseg_adala.benchmark
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
try:
    MODELS.build(dict(type='AdaLAMask2Former', backbone=dict(type='AdaLAViT')))
except ModuleNotFoundError as error:
    print(error)
"""
    result = subprocess.run([sys.executable, '-c', code], check=True, capture_output=True, text=True)
    assert 'Mask2Former needs mmdet' in result.stdout
    assert 'pip install "mmseg-adala[mask2former]"' in result.stdout
