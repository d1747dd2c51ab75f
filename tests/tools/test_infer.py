"""tools/infer.py: whole high-resolution images in one forward, slide mode, failures, a reference.

The 2048x2048 run goes through a subprocess, exactly as users run the tool; the other tests
call the tool in-process (an interpreter start with mmseg costs ~10 s) and look inside the
model where they need to (forward shapes, equality with `mmseg.apis.inference_model`).
"""
import importlib.util
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.runner import save_checkpoint
from mmseg.apis import inference_model, init_model

from mmseg_adala.datasets.synthetic_ade20k import synthetic_metainfo, write_synthetic_image
from mmseg_adala.models.backbones.adala_vit import AdaLAViT

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / 'tools' / 'infer.py'
CONFIG = str(ROOT / 'configs' / 'tiny' / 'adala_upernet_synthetic_tiny.py')
NUM_CLASSES = 5
RANDOM_WEIGHTS = [CONFIG, 'none']
CPU = ['--device', 'cpu', '--cfg-options', 'model.backbone.init_cfg=None']


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('infer_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def backbone_inputs(monkeypatch):
    """Shapes of the images every AdaLAViT forward receives, in order."""
    shapes, forward = [], AdaLAViT.forward
    monkeypatch.setattr(AdaLAViT, 'forward', lambda self, x: shapes.append(tuple(x.shape)) or forward(self, x))
    return shapes


def run_tool(*args):
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def read(path, flags=cv2.IMREAD_UNCHANGED):
    image = cv2.imread(str(path), flags)
    assert image is not None, f'{path} missing or unreadable'
    return image


def test_whole_2048_image_and_a_corrupt_file(tmp_path):
    """One forward at 2048x2048 gives a 2048x2048 map; a corrupt file fails alone, loudly."""
    images, out = tmp_path / 'images', tmp_path / 'out'
    images.mkdir()
    write_synthetic_image(images / 'big.jpg', size=(2048, 2048))
    (images / 'broken.png').write_bytes(b'not an image at all')

    result = run_tool(*RANDOM_WEIGHTS, images, '--out-dir', out, '--mode', 'whole', *CPU)

    assert result.returncode != 0
    assert 'broken.png' in result.stderr
    assert '1 images done, 1 failed' in result.stdout
    labels = read(out / 'big_labels.png')
    assert labels.shape == (2048, 2048) and labels.dtype == np.uint8
    assert set(np.unique(labels)) <= set(range(NUM_CLASSES))
    assert read(out / 'big_mask.png').shape == (2048, 2048, 3)
    assert read(out / 'big_overlay.jpg').shape == (2048, 2048, 3)
    assert not list(out.glob('broken*'))


def test_whole_mode_is_one_forward_of_the_unresized_image(tool, tmp_path, backbone_inputs):
    """The config's test pipeline resizes to 128: the tool must bypass it and not tile.
    Height 200 is no multiple of the patch size 14: the backbone pads by itself."""
    write_synthetic_image(tmp_path / 'image.jpg', size=(200, 300))

    assert tool.main([*RANDOM_WEIGHTS, str(tmp_path), '--out-dir', str(tmp_path / 'out'), *CPU]) == 0

    assert backbone_inputs == [(1, 3, 200, 300)]
    assert read(tmp_path / 'out' / 'image_labels.png').shape == (200, 300)


def test_slide_mode_tiles_and_keeps_height_and_width(tool, tmp_path, capsys, backbone_inputs):
    """Height 200, width 300; a glob and an explicit path to the same file count once."""
    write_synthetic_image(tmp_path / 'wide.jpg', size=(200, 300))
    out = tmp_path / 'out'

    status = tool.main([*RANDOM_WEIGHTS, str(tmp_path / '*.jpg'), str(tmp_path / 'wide.jpg'), '--out-dir',
                        str(out), '--mode', 'slide', '--crop-size', '112', '--stride', '100', *CPU])

    assert status == 0
    assert '1 images done, 0 failed' in capsys.readouterr().out
    # ceil((200 - 112) / 100) + 1 = 2 rows, ceil((300 - 112) / 100) + 1 = 3 columns of crops.
    assert backbone_inputs == [(1, 3, 112, 112)] * 6
    labels = read(out / 'wide_labels.png')
    assert labels.shape == (200, 300)
    assert set(np.unique(labels)) <= set(range(NUM_CLASSES))


def test_no_images_is_a_clear_error(tool, tmp_path):
    with pytest.raises(SystemExit, match='no images found in .*nothing_here'):
        tool.find_images([str(tmp_path / 'nothing_here')])


def test_labels_equal_mmseg_inference_model(tool, tmp_path):
    """Against MMSeg's own API on the config unchanged: at 96x128 the config's Resize to
    (128, 128) keeps the size, so both must give the same map; the mask uses the checkpoint's palette."""
    torch.manual_seed(0)
    model = init_model(CONFIG, device='cpu')
    meta = synthetic_metainfo(NUM_CLASSES)
    checkpoint = tmp_path / 'segmentor.pth'
    save_checkpoint(dict(state_dict=model.state_dict(), meta=dict(dataset_meta=meta)), str(checkpoint))
    image = tmp_path / 'image.jpg'
    write_synthetic_image(image, size=(96, 128), seed=1)
    out = tmp_path / 'out'

    assert tool.main([CONFIG, str(checkpoint), str(image), '--out-dir', str(out), *CPU]) == 0

    reference = inference_model(init_model(CONFIG, str(checkpoint), device='cpu'), str(image))
    expected = reference.pred_sem_seg.data[0].numpy()
    labels = read(out / 'image_labels.png')
    np.testing.assert_array_equal(labels, expected)
    assert len(np.unique(labels)) > 1  # a constant map would make the comparison weak
    palette_bgr = np.asarray(meta['palette'], np.uint8)[:, ::-1]
    np.testing.assert_array_equal(read(out / 'image_mask.png'), palette_bgr[labels])
