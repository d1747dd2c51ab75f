"""tools/infer.py: whole high-resolution images in one forward, scales, slide mode, failures, a
reference, and the checks that stop a run before any work.

The 2048x2048 run goes through a subprocess, exactly as users run the tool; the other tests
call the tool in-process (an interpreter start with mmseg costs more than most of them) and look inside the
model where they need to (forward shapes, equality with `mmseg.apis.inference_model`).
"""
import importlib.util
import os
import re
import resource
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.runner import save_checkpoint
from mmseg.apis import inference_model, init_model
from tiny import write_png_header
from tiny_runs import STAGE3, write_bad_checkpoint

from mmseg_adala.apis import image_files
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


@pytest.mark.slow  # a subprocess, on a 2048x2048 image
def test_whole_2048_image_and_a_corrupt_file(tmp_path):
    """One forward at 2048x2048 gives a 2048x2048 map; a corrupt file fails alone, loudly."""
    images, out = tmp_path / 'images', tmp_path / 'out'
    images.mkdir()
    write_synthetic_image(images / 'big.jpg', size=(2048, 2048))
    (images / 'broken.png').write_bytes(b'not an image at all')

    result = run_tool(*RANDOM_WEIGHTS, images, '--out-dir', out, '--mode', 'whole', '--scale', 'native', *CPU)

    assert result.returncode != 0
    assert 'broken.png' in result.stderr
    assert '1 images done, 1 failed' in result.stdout
    labels = read(out / 'big_labels.png')
    assert labels.shape == (2048, 2048) and labels.dtype == np.uint8
    assert set(np.unique(labels)) <= set(range(NUM_CLASSES))
    assert read(out / 'big_mask.png').shape == (2048, 2048, 3)
    assert read(out / 'big_overlay.jpg').shape == (2048, 2048, 3)
    assert not list(out.glob('broken*'))


@pytest.mark.parametrize('scale, forward_size', [
    ([], (85, 128)),  # the config's Resize(scale=(128, 128), keep_ratio=True): 300 -> 128
    (['--scale', 'native'], (200, 300)),  # 200 is no multiple of the patch size 14: the backbone pads
    (['--scale', '150x100'], (100, 150)),  # long side <= 150, short side <= 100
])
def test_whole_mode_is_one_forward_at_the_scale_and_outputs_at_the_image_size(
        tool, tmp_path, backbone_inputs, scale, forward_size):
    write_synthetic_image(tmp_path / 'image.jpg', size=(200, 300))
    out = tmp_path / 'out'

    assert tool.main([*RANDOM_WEIGHTS, str(tmp_path / 'image.jpg'), '--out-dir', str(out), *scale, *CPU]) == 0

    assert backbone_inputs == [(1, 3, *forward_size)]
    assert read(out / 'image_labels.png').shape == (200, 300)
    assert read(out / 'image_mask.png').shape == read(out / 'image_overlay.jpg').shape == (200, 300, 3)


def test_slide_mode_tiles_and_keeps_height_and_width(tool, tmp_path, capsys, backbone_inputs):
    """Height 200, width 300; a glob and an explicit path to the same file count once."""
    write_synthetic_image(tmp_path / 'wide.jpg', size=(200, 300))
    out = tmp_path / 'out'

    status = tool.main([*RANDOM_WEIGHTS, str(tmp_path / '*.jpg'), str(tmp_path / 'wide.jpg'), '--out-dir',
                        str(out), '--mode', 'slide', '--crop-size', '112', '--stride', '100',
                        '--scale', 'native', *CPU])

    assert status == 0
    assert '1 images done, 0 failed' in capsys.readouterr().out
    # ceil((200 - 112) / 100) + 1 = 2 rows, ceil((300 - 112) / 100) + 1 = 3 columns of crops.
    assert backbone_inputs == [(1, 3, 112, 112)] * 6
    labels = read(out / 'wide_labels.png')
    assert labels.shape == (200, 300)
    assert set(np.unique(labels)) <= set(range(NUM_CLASSES))


def test_inputs_that_match_no_image_stop_the_run_before_any_work(tool, tmp_path, backbone_inputs):
    """A typo, an empty folder, a pattern without matches, a folder of our outputs: each is named."""
    write_synthetic_image(tmp_path / 'good.jpg', size=(64, 64))
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'done').mkdir()
    cv2.imwrite(str(tmp_path / 'done' / 'good_labels.png'), np.zeros((8, 8), np.uint8))
    bad = [tmp_path / 'typo.jpg', tmp_path / 'empty', tmp_path / 'nomatch*.png', tmp_path / 'done']
    out = tmp_path / 'out'

    with pytest.raises(SystemExit) as info:
        tool.main([*RANDOM_WEIGHTS, str(tmp_path / 'good.jpg'), *map(str, bad), '--out-dir', str(out), *CPU])

    message = str(info.value.code)  # a message as the code: Python prints it and exits with status 1
    assert message.startswith('error: ') and all(str(path) in message for path in bad)
    assert 'typo.jpg: no such file or folder' in message
    assert 'done: folder without images (.bmp' in message and 'other than outputs of this tool' in message
    assert backbone_inputs == [] and not out.exists()


def test_an_input_named_like_an_output_is_never_overwritten(tool, tmp_path, backbone_inputs):
    """In place, `scene.jpg`'s overlay would replace the user's `scene_overlay.jpg`: refused."""
    write_synthetic_image(tmp_path / 'scene.jpg', size=(64, 64))
    write_synthetic_image(tmp_path / 'scene_overlay.jpg', size=(64, 64), seed=1)
    photo = (tmp_path / 'scene_overlay.jpg').read_bytes()

    with pytest.raises(SystemExit, match=r'(?s)scene_overlay.jpg \(output of scene.jpg\).*--out-dir'):
        tool.main([*RANDOM_WEIGHTS, str(tmp_path), '--out-dir', str(tmp_path), *CPU])

    assert (tmp_path / 'scene_overlay.jpg').read_bytes() == photo
    assert backbone_inputs == [] and sorted(p.name for p in tmp_path.iterdir()) == ['scene.jpg',
                                                                                    'scene_overlay.jpg']


def test_outputs_of_an_earlier_run_are_skipped_as_inputs(tool, tmp_path, capsys, backbone_inputs):
    photos, out = tmp_path / 'photos', tmp_path / 'out'
    write_synthetic_image(photos / 'scene.jpg', size=(64, 64))
    assert tool.main([*RANDOM_WEIGHTS, str(photos / 'scene.jpg'), '--out-dir', str(photos), *CPU]) == 0
    capsys.readouterr()

    assert tool.main([*RANDOM_WEIGHTS, str(photos), '--out-dir', str(out), *CPU]) == 0

    assert len(backbone_inputs) == 2  # one forward per run: scene.jpg only
    assert sorted(p.name for p in out.iterdir()) == ['scene_labels.png', 'scene_mask.png', 'scene_overlay.jpg']
    assert 'skipped 3 files named like outputs of this tool' in capsys.readouterr().out


@pytest.mark.skipif(not os.path.isdir('/sys'), reason='needs a folder that even root cannot write: sysfs')
def test_an_unwritable_out_dir_stops_the_run_before_any_work(tool, tmp_path, backbone_inputs):
    """sysfs refuses new files to everyone, root included (who passes any chmod-based check)."""
    write_synthetic_image(tmp_path / 'image.jpg', size=(64, 64))

    with pytest.raises(SystemExit, match='cannot write to --out-dir /sys: '):
        tool.main([*RANDOM_WEIGHTS, str(tmp_path / 'image.jpg'), '--out-dir', '/sys', *CPU])

    assert backbone_inputs == []


def test_labels_equal_mmseg_inference_model(tool, tmp_path):
    """Against MMSeg's own API on the config unchanged: by default the tool resizes as the
    config's test pipeline does (here 200x300 -> 85x128) and maps back to 200x300, so both must
    give the same map; the mask uses the checkpoint's palette."""
    torch.manual_seed(0)
    model = init_model(CONFIG, device='cpu')
    meta = synthetic_metainfo(NUM_CLASSES)
    checkpoint = tmp_path / 'segmentor.pth'
    save_checkpoint(dict(state_dict=model.state_dict(), meta=dict(dataset_meta=meta)), str(checkpoint))
    image = tmp_path / 'image.jpg'
    write_synthetic_image(image, size=(200, 300), seed=1)
    out = tmp_path / 'out'

    assert tool.main([CONFIG, str(checkpoint), str(image), '--out-dir', str(out), *CPU]) == 0

    reference = inference_model(init_model(CONFIG, str(checkpoint), device='cpu'), str(image))
    expected = reference.pred_sem_seg.data[0].numpy()
    labels = read(out / 'image_labels.png')
    np.testing.assert_array_equal(labels, expected)
    assert len(np.unique(labels)) > 1  # a constant map would make the comparison weak
    palette_bgr = np.asarray(meta['palette'], np.uint8)[:, ::-1]
    np.testing.assert_array_equal(read(out / 'image_mask.png'), palette_bgr[labels])



def test_an_image_above_the_pixel_limit_fails_before_it_is_decoded(tool, tmp_path, capsys, monkeypatch):
    """A 0.9 MB 30000x30000 PNG would decode to 2.7 GB (and the model would ask for 7 GB more)."""
    huge = write_png_header(tmp_path / 'huge.png', 30000, 30000)
    write_synthetic_image(tmp_path / 'big.jpg', size=(100, 120))
    write_synthetic_image(tmp_path / 'small.jpg', size=(60, 80))
    decoded, read_image = [], image_files.read_image
    monkeypatch.setattr(tool, 'read_image', lambda path: decoded.append(path.name) or read_image(path))

    assert tool.main([*RANDOM_WEIGHTS, str(tmp_path), '--out-dir', str(tmp_path / 'out'), *CPU]) == 1
    assert tool.main([*RANDOM_WEIGHTS, str(tmp_path / 'big.jpg'), str(tmp_path / 'small.jpg'), '--max-pixels',
                      '11000', '--out-dir', str(tmp_path / 'limited'), *CPU]) == 1

    failures = capsys.readouterr().err
    assert (f'failed: {huge}: ImageSizeError: 30000x30000 px = 900,000,000 pixels is above the limit of 268,435,456 '
            '(16384^2); decoded it would take 2.7 GB') in failures
    assert f'failed: {tmp_path / "big.jpg"}: ImageSizeError: 120x100 px = 12,000 pixels is above the limit of ' \
           '11,000;' in failures
    assert decoded == ['big.jpg', 'small.jpg', 'small.jpg']
    assert sorted(p.name for p in (tmp_path / 'limited').iterdir()) == ['small_labels.png', 'small_mask.png',
                                                                      'small_overlay.jpg']


def test_an_aspect_ratio_the_model_cannot_take_is_named(tool, tmp_path, capsys):
    """Named, rather than OpenCV's `(-215:Assertion failed) ... inv_scale_x > 0` from the config's Resize."""
    cv2.imwrite(str(tmp_path / 'strip.png'), np.zeros((10, 60000, 3), np.uint8))
    assert tool.main([*RANDOM_WEIGHTS, str(tmp_path / 'strip.png'), '--out-dir', str(tmp_path / 'out'), *CPU]) == 1
    assert (f"failed: {tmp_path / 'strip.png'}: ImageSizeError: 60000x10 px (aspect ratio 6000:1) is a shape this "
            "model cannot take: resized to the config's test scale (128, 128), aspect ratio kept, it would be 128x0 "
            'px, and the model needs at least 15 px per side; at this scale it takes aspect ratios up to 8:1') \
        in capsys.readouterr().err


@contextmanager
def full_disk(free_bytes):
    """This process may write no file past `free_bytes` (the kernel's RLIMIT_FSIZE): as on a full disk, a
    write fails part way (EFBIG rather than ENOSPC) and leaves what it wrote."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (free_bytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


def test_outputs_on_a_full_disk_leave_no_file_under_their_names(tmp_path):
    """No 0-byte `_labels.png` or `_mask.png` under the final names: OpenCV writes a small PNG (a
    label map of one class) through a buffer whose failure it never sees, and reports success."""
    image = np.random.default_rng(0).integers(0, 256, (200, 300, 3), np.uint8)
    labels = np.zeros((200, 300), np.uint8)
    colours = image_files.colour_table(None)
    with full_disk(free_bytes=0), pytest.raises(OSError):
        image_files.save_outputs(tmp_path, tmp_path / 'photo.jpg', image, labels, colours, 0.5)
    assert os.listdir(tmp_path) == []
    image_files.save_outputs(tmp_path, tmp_path / 'photo.jpg', image, labels, colours, 0.5)
    np.testing.assert_array_equal(read(tmp_path / 'photo_labels.png'), labels)
    assert sorted(os.listdir(tmp_path)) == ['photo_labels.png', 'photo_mask.png', 'photo_overlay.jpg']


def test_inference_leaves_cudnn_benchmark_off(tool, tmp_path, monkeypatch):
    """mmseg's default_runtime asks for cuDNN autotuning, which would run again for every new image size."""
    monkeypatch.setattr(torch.backends.cudnn, 'benchmark', False)
    write_synthetic_image(tmp_path / 'image.jpg', size=(64, 96))
    assert tool.main([*RANDOM_WEIGHTS, str(tmp_path / 'image.jpg'), '--out-dir', str(tmp_path / 'out'), *CPU]) == 0
    assert torch.backends.cudnn.benchmark is False


def test_infer_stops_on_a_file_that_is_no_checkpoint(tmp_path, tool):
    path = tmp_path / 'text.pth'
    write_bad_checkpoint(path, 'text')
    image = tmp_path / 'image.png'
    cv2.imwrite(str(image), np.zeros((30, 40, 3), np.uint8))
    with pytest.raises(SystemExit, match=f"error: checkpoint {re.escape(str(path))} is not a PyTorch checkpoint"):
        tool.main([STAGE3, str(path), str(image), '--out-dir', str(tmp_path / 'out'), '--device', 'cpu'])


def test_infer_names_each_bad_image_and_why(tmp_path, capsys, tool):
    """Rather than an OpenCV assertion about its buffer, 'failed to load image', or the neck's sizes."""
    images, out = tmp_path / 'images', tmp_path / 'out'
    images.mkdir()
    (images / 'empty.png').write_bytes(b'')
    (images / 'junk.png').write_bytes(b'not an image')
    cv2.imwrite(str(images / 'small.png'), np.zeros((10, 40, 3), np.uint8))
    cv2.imwrite(str(images / 'good.png'), np.zeros((30, 40, 3), np.uint8))
    assert tool.main([STAGE3, 'none', str(images), '--out-dir', str(out), '--scale', 'native',
                      '--device', 'cpu', '--cfg-options', 'model.backbone.init_cfg=None']) == 1
    failures = capsys.readouterr().err
    images = images.resolve()
    assert f'failed: {images / "empty.png"}: UnreadableImageError: the file is empty (0 bytes)' in failures
    assert f'failed: {images / "junk.png"}: UnreadableImageError: OpenCV cannot decode it' in failures
    assert re.search(f'failed: {re.escape(str(images / "small.png"))}: InputTooSmallError: .*10x40 px.* at least '
                     '15 px per side', failures)
    assert (out / 'good_labels.png').exists()
