"""The UperNet segmentor on its input's device: tiled prediction, label maps and the training loss.

Run with the default device set to 'meta' (`with_meta_default_device`), against the CPU; with
``--device cuda`` on the GPU as well. The resize matrices of the tiled head and the label maps
are built on the host, where their intervals are read without waiting for the device, and go to
the device once per image, not once per tile.
"""
import copy

import torch
from mmengine.config import ConfigDict
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from on_device import assert_close_to_cpu, with_meta_default_device
from test_encoder_decoder import make_pair
from torch.utils._python_dispatch import TorchDispatchMode

META = dict(img_shape=(91, 105), pad_shape=(98, 112), padding_size=[0, 7, 0, 7], ori_shape=(130, 150), flip=True,
            flip_direction='horizontal')


def predict(model, image, test_cfg):
    model.test_cfg = ConfigDict(test_cfg)
    with torch.no_grad():
        return model.predict(image, [SegDataSample(metainfo=META)])[0]


def test_tiled_prediction_on_the_inputs_device(device):
    _, model = make_pair()
    image = torch.randn(1, 3, 98, 112)
    test_cfg = dict(mode='whole', head_tile=30, keep_logits=True)
    expected = predict(model, image, test_cfg)
    got = with_meta_default_device(predict, copy.deepcopy(model).to(device), image.to(device), test_cfg)
    assert_close_to_cpu(got.seg_logits.data, expected.seg_logits.data, device)
    logits = expected.seg_logits.data
    top2 = logits.topk(2, dim=0).values
    sure = (top2[0] - top2[1]) > 1e-2 * logits.abs().max()  # no rounding on another device overturns these
    assert sure.float().mean() > 0.9
    assert torch.equal(got.pred_sem_seg.data.cpu()[0][sure], expected.pred_sem_seg.data[0][sure])


def test_training_loss_on_the_inputs_device(device):
    _, model = make_pair()
    model.train()
    for module in model.modules():  # the CPU's and a GPU's generators draw other dropout masks
        if isinstance(module, torch.nn.Dropout2d):
            module.p = 0.
    image = torch.randn(2, 3, 56, 70)
    labels = torch.randint(0, 5, (2, 1, 56, 70))

    def losses(segmentor, x, y):
        samples = [SegDataSample(gt_sem_seg=PixelData(data=label), metainfo=dict(img_shape=(56, 70)))
                   for label in y]
        loss = segmentor.loss(x, samples)
        sum(value for key, value in loss.items() if 'loss' in key).backward()
        return loss

    expected = losses(copy.deepcopy(model), image, labels)
    got = with_meta_default_device(losses, copy.deepcopy(model).to(device), image.to(device), labels.to(device))
    assert expected.keys() == got.keys()
    for key in expected:
        assert_close_to_cpu(got[key].detach(), expected[key].detach(), device)


class CountFloat64Casts(TorchDispatchMode):
    """Counts the casts of float64 tensors: the host's resize matrices on their way to the maps."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._to_copy.default and args[0].dtype == torch.float64:
            self.count += 1
        return func(*args, **(kwargs or {}))


def test_resize_matrices_reach_the_device_once_per_image(device):
    _, model = make_pair()
    model = model.to(device)
    image = torch.randn(1, 3, 98, 112, device=device)
    counts = {}
    for tile in (1000, 14):  # one tile, and 8 x 8 = 64 tiles
        with CountFloat64Casts() as casts:
            predict(model, image, dict(mode='whole', head_tile=tile))
        counts[tile] = casts.count
    assert counts[14] == counts[1000] > 0
