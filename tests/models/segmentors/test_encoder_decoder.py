"""AdaLAEncoderDecoder predicts what MMSeg's EncoderDecoder predicts, with or without tiles."""
import pytest
import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from tiny import TINY_CONFIGS

import mmseg_adala  # noqa: F401  (registers AdaLAEncoderDecoder)
from mmseg_adala.models.backbones import resolve_arch
from mmseg_adala.models.segmentors import label_maps


def make_pair(head: str = 'upernet'):
    """(MMSeg's EncoderDecoder, AdaLAEncoderDecoder) with the same random tiny weights, in eval mode."""
    init_default_scope('mmseg')
    cfg = Config.fromfile(f'{TINY_CONFIGS}/adala_upernet_synthetic_tiny.py').model
    cfg.backbone.init_cfg = None
    cfg.auxiliary_head = None
    cfg.data_preprocessor.size = None
    cfg.data_preprocessor.size_divisor = 1
    cfg.data_preprocessor.update(resolve_arch(cfg.backbone.arch).normalisation)  # MMSeg's model fills in none
    if head == 'linear':
        cfg.neck = None
        cfg.decode_head = dict(type='BNHead', in_channels=[48], in_index=[0], channels=48, num_classes=5,
                               align_corners=False)
    else:
        cfg.decode_head.num_classes = 5
    torch.manual_seed(0)
    reference = MODELS.build(dict(cfg, type='EncoderDecoder'))
    for module in reference.modules():  # BN statistics far from the identity
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2)
    ours = MODELS.build(dict(cfg, type='AdaLAEncoderDecoder'))
    ours.load_state_dict(reference.state_dict())
    return reference.eval(), ours.eval()


def samples(height, width, padding=(0, 0, 0, 0), flip=None, ori=None):
    left, right, top, bottom = padding
    meta = dict(img_shape=(height - top - bottom, width - left - right), pad_shape=(height, width),
                padding_size=list(padding), ori_shape=ori or (height - top - bottom, width - left - right),
                flip=flip is not None, flip_direction=flip)
    return [SegDataSample(metainfo=meta)]


def predict(model, image, data_samples, test_cfg):
    model.test_cfg = ConfigDict(test_cfg)
    with torch.no_grad():
        return model.predict(image, data_samples)


@pytest.mark.parametrize('head', ['upernet', 'linear'])
@pytest.mark.parametrize('size,tile,meta', [
    ((84, 98), 28, dict()),
    ((98, 70), 40, dict(padding=(0, 9, 0, 5), ori=(150, 101))),
    ((70, 112), 17, dict(flip='horizontal', ori=(61, 97))),
    ((56, 84), 1000, dict(flip='vertical', padding=(3, 0, 4, 0), ori=(40, 200))),
])
def test_labels_and_logits_equal_mmseg(head, size, tile, meta, monkeypatch):
    monkeypatch.setattr(label_maps, 'BAND_BYTES', 20000)  # bands of a few rows
    reference, ours = make_pair(head)
    image = torch.randn(1, 3, *size)
    expected = predict(reference, image, samples(*size, **meta), dict(mode='whole'))[0]
    got = predict(ours, image, samples(*size, **meta), dict(mode='whole', head_tile=tile, keep_logits=True))[0]
    assert torch.equal(got.pred_sem_seg.data, expected.pred_sem_seg.data)
    scale = expected.seg_logits.data.abs().max().item()
    torch.testing.assert_close(got.seg_logits.data, expected.seg_logits.data, rtol=1e-4, atol=1e-4 * scale)
    untiled = predict(ours, image, samples(*size, **meta), dict(mode='whole'))[0]
    assert torch.equal(untiled.pred_sem_seg.data, expected.pred_sem_seg.data)
    assert 'seg_logits' not in untiled  # not kept unless asked for


def test_without_data_samples_labels_are_at_the_input_size():
    reference, ours = make_pair()
    image = torch.randn(2, 3, 70, 84)
    expected = predict(reference, image, None, dict(mode='whole'))
    got = predict(ours, image, None, dict(mode='whole', head_tile=30))
    for e, g in zip(expected, got):
        assert g.pred_sem_seg.data.shape == (1, 70, 84)
        assert torch.equal(g.pred_sem_seg.data, e.pred_sem_seg.data)


def test_slide_mode_uses_tiled_head():
    reference, ours = make_pair()
    image = torch.randn(1, 3, 98, 126)
    cfg = dict(mode='slide', crop_size=(70, 70), stride=(56, 56))
    expected = predict(reference, image, samples(98, 126), cfg)[0]
    got = predict(ours, image, samples(98, 126), dict(cfg, head_tile=20))[0]
    assert torch.equal(got.pred_sem_seg.data, expected.pred_sem_seg.data)


def test_test_time_augmentation_averages_the_kept_logits():
    """tools/test.py --tta sets keep_logits: MMSeg's SegTTAModel then merges our views as its own."""
    from mmseg.models import SegTTAModel
    reference, ours = make_pair()
    image = torch.randint(0, 256, (3, 70, 84), dtype=torch.uint8)
    views = [(image, None), (image.flip(-1), 'horizontal')]

    def merged(model, test_cfg):
        model.test_cfg = ConfigDict(test_cfg)
        data = dict(inputs=[[view] for view, _ in views],
                    data_samples=[samples(70, 84, flip=flip) for _, flip in views])
        for (sample,) in data['data_samples']:
            sample.set_metainfo(dict(img_path='image.png'))
        with torch.no_grad():
            return SegTTAModel(module=model).test_step(data)[0].pred_sem_seg.data

    assert torch.equal(merged(ours, dict(mode='whole', head_tile=30, keep_logits=True)),
                       merged(reference, dict(mode='whole')))
