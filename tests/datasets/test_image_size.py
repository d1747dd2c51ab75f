"""Image sizes from file headers: huge images refused before decoding, in the datasets (and
tools/infer.py, tests/tools/test_infer.py), and shapes a resize would bring to 0 px named: decoded
whole, a 30000x30000 PNG takes gigabytes, and a 10000x10 image would fail in training with OpenCV's
raw `inv_scale_x > 0` assertion."""
import cv2
import mmcv
import numpy as np
import pytest
from PIL import Image, ImageFile
from tiny import TINY_CONFIGS, synthetic_data_options, write_png_header

from mmseg_adala import train as train_tool
from mmseg_adala.datasets import transforms
from mmseg_adala.datasets.image_size import (ImageSizeError, check_fits_model, check_pixel_limit, header_size,
                                             rescaled_size)
from mmseg_adala.datasets.synthetic_ade20k import make_synthetic_ade20k
from mmseg_adala.datasets.transforms import LoadImageOrSkip

STAGE3 = f'{TINY_CONFIGS}/adala_upernet_synthetic_tiny.py'


def test_header_size_reads_a_huge_png_without_decoding_it(tmp_path, monkeypatch):
    path = write_png_header(tmp_path / 'huge.png', 30000, 30000)
    monkeypatch.setattr(ImageFile.ImageFile, 'load', lambda self: pytest.fail('the pixels were decoded'))
    limit = Image.MAX_IMAGE_PIXELS
    assert header_size(str(path)) == (30000, 30000)  # above PIL's own 179 Mpx refusal
    assert Image.MAX_IMAGE_PIXELS == limit
    assert header_size(str(tmp_path)) is None and header_size(__file__) is None
    with pytest.raises(ImageSizeError, match=r'huge.png: 30000x30000 px = 900,000,000 pixels is above the limit of '
                                             r'268,435,456 \(16384\^2\); decoded it would take 2.7 GB'):
        check_pixel_limit(str(path), header_size(str(path)))
    check_pixel_limit(str(path), (16384, 16384))


@pytest.mark.parametrize('size', [(300, 200), (200, 300), (60000, 10), (10, 60000), (513, 511), (1, 1)])
@pytest.mark.parametrize('scale', [(2048, 512), (128, 128), (512, 2048)])
def test_rescaled_size_is_mmcvs_keep_ratio_resize(size, scale):
    assert rescaled_size(size, scale) == mmcv.rescale_size(size, scale)


def test_a_shape_the_model_cannot_take_is_named_with_its_aspect_ratio():
    with pytest.raises(ImageSizeError, match=r"^a.png: 60000x10 px \(aspect ratio 6000:1\) is a shape this model "
                                             r"cannot take: resized to the config's test scale \(2048, 512\), aspect "
                                             r'ratio kept, it would be 2048x0 px, and the model needs at least 15 px '
                                             r'per side; at this scale it takes aspect ratios up to 136:1\. Crop'):
        check_fits_model('a.png', (60000, 10), (2048, 512), 15, "the config's test scale")
    check_fits_model('a.png', (2040, 15), (2048, 512), 15, '')  # 136:1 fits


def test_load_image_or_skip_skips_a_huge_image_before_decoding(tmp_path, monkeypatch):
    path = write_png_header(tmp_path / 'huge.png', 30000, 30000)
    monkeypatch.setattr(transforms.mmcv, 'imfrombytes', lambda *args, **kwargs: pytest.fail('decoded'))
    load = LoadImageOrSkip()
    assert load(dict(img_path=str(path))) is None and load.num_skipped == 1


@pytest.fixture
def data(tmp_path):
    root = tmp_path / 'data'
    make_synthetic_ade20k(str(root), num_train=2, num_val=1, image_size=64, num_classes=3)
    return root


def train(data, work_dir, *options):
    with pytest.raises(SystemExit) as refused:
        train_tool.main([STAGE3, '--work-dir', str(work_dir), '--cfg-options', *synthetic_data_options(str(data)),
                         'train_dataloader.batch_size=1', 'train_cfg.max_iters=2', *options])
    return str(refused.value.code)


def test_training_refuses_an_image_above_max_image_pixels(data, tmp_path, monkeypatch):
    monkeypatch.setattr(mmcv, 'imfrombytes', lambda *args, **kwargs: pytest.fail('decoded'))
    message = train(data, tmp_path / 'work', 'max_image_pixels=4000')
    assert f'{data}/images/training/ADE_train_0000000' in message
    assert '64x64 px = 4,096 pixels is above the limit of 4,000;' in message and 'max_image_pixels=N' in message


def test_training_names_an_image_a_resize_would_bring_to_0_px(data, tmp_path):
    image = data / 'images' / 'training' / 'ADE_train_00000001.jpg'
    cv2.imwrite(str(image), np.zeros((10, 10000, 3), np.uint8))
    cv2.imwrite(str(image.parents[2] / 'annotations' / 'training' / 'ADE_train_00000001.png'),
                np.ones((10, 10000), np.uint8))
    message = train(data, tmp_path / 'work')
    # RandomResize(scale=(128, 128), ratio_range=(0.75, 1.5)) takes 10000x10 to 96x0 .. 192x0 px.
    assert (f"{image}: 10000x10 px (aspect ratio 1000:1) is a shape this model cannot take: resized to the "
            "pipeline's smallest resize scale (96, 96), aspect ratio kept, it would be 96x0 px") in message
