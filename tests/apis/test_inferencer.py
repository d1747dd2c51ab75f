"""mmseg_adala.apis.AdaLAInferencer from Python: the same label maps as tools/infer.py writes, for
paths and arrays alike, and the strict checkpoint load that MMSegInferencer alone lacks."""
import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.runner import save_checkpoint
from mmseg.apis import init_model

from tiny import write_png_header

from mmseg_adala.apis import AdaLAInferencer
from mmseg_adala.datasets.image_size import ImageSizeError
from mmseg_adala.datasets.synthetic_ade20k import synthetic_metainfo, write_synthetic_image
from mmseg_adala.engine import CheckpointMismatchError

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / 'configs' / 'tiny' / 'adala_upernet_synthetic_tiny.py')


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    model = init_model(CONFIG, device='cpu')
    path = tmp_path / 'segmentor.pth'
    save_checkpoint(dict(state_dict=model.state_dict(), meta=dict(dataset_meta=synthetic_metainfo(5))), str(path))
    return path


def run_cli(argv):
    spec = importlib.util.spec_from_file_location('infer_tool', ROOT / 'tools' / 'infer.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool.main(argv)


@pytest.mark.parametrize('scale, cli_scale', [('config', 'config'), ((150, 100), '150x100')])
def test_labels_equal_the_cli_output_for_paths_and_arrays(tmp_path, checkpoint, scale, cli_scale):
    image = tmp_path / 'image.jpg'
    write_synthetic_image(image, size=(200, 300), seed=1)
    out = tmp_path / 'out'
    assert run_cli([CONFIG, str(checkpoint), str(image), '--out-dir', str(out), '--scale', cli_scale,
                    '--device', 'cpu']) == 0
    expected = cv2.imread(str(out / 'image_labels.png'), cv2.IMREAD_UNCHANGED)

    inferencer = AdaLAInferencer(CONFIG, str(checkpoint), scale=scale, device='cpu')
    from_path, from_array = inferencer([str(image), cv2.imread(str(image))])['predictions']

    assert len(np.unique(expected)) > 1  # a constant map would make the comparison weak
    np.testing.assert_array_equal(from_path, expected)
    np.testing.assert_array_equal(from_array, expected)
    assert inferencer.model.dataset_meta['classes'] == synthetic_metainfo(5)['classes']


def test_a_checkpoint_that_does_not_fit_is_refused(tmp_path, checkpoint):
    """MMSegInferencer would warn about the missing head weights and segment with random ones."""
    state = torch.load(checkpoint, weights_only=True)
    del state['state_dict']['decode_head.conv_seg.weight']
    torch.save(state, tmp_path / 'headless.pth')

    with pytest.raises(CheckpointMismatchError, match='decode_head.conv_seg.weight'):
        AdaLAInferencer(CONFIG, str(tmp_path / 'headless.pth'), device='cpu')


@pytest.mark.parametrize('kwargs', [dict(mode='tiles'), dict(scale='native ')])
def test_unknown_mode_or_scale_is_refused(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        AdaLAInferencer(CONFIG, **kwargs)


def test_the_configs_head_tile_reaches_the_model(tmp_path, checkpoint):
    image = tmp_path / 'image.jpg'
    write_synthetic_image(image, size=(200, 300), seed=1)
    untiled = AdaLAInferencer(CONFIG, str(checkpoint), device='cpu', cfg_options={'model.test_cfg.head_tile': None})
    tiled = AdaLAInferencer(CONFIG, str(checkpoint), device='cpu', cfg_options={'model.test_cfg.head_tile': 20})
    assert tiled.model.test_cfg.head_tile == 20 and type(tiled.model).__name__ == 'AdaLAEncoderDecoder'
    np.testing.assert_array_equal(tiled(str(image))['predictions'], untiled(str(image))['predictions'])


@pytest.mark.slow
def test_half_precision_labels_mostly_equal_float32(tmp_path, checkpoint):
    image = tmp_path / 'image.jpg'
    write_synthetic_image(image, size=(200, 300), seed=1)
    full = AdaLAInferencer(CONFIG, str(checkpoint), device='cpu')(str(image))['predictions']
    for dtype in ('bfloat16', 'float16'):
        half = AdaLAInferencer(CONFIG, str(checkpoint), device='cpu', dtype=dtype)(str(image))['predictions']
        assert half.shape == full.shape and (half == full).mean() > 0.9
    with pytest.raises(ValueError, match='dtype'):
        AdaLAInferencer(CONFIG, str(checkpoint), device='cpu', dtype='int8')


def test_image_files_are_checked_from_their_headers_before_any_is_decoded(tmp_path, monkeypatch):
    write_synthetic_image(tmp_path / 'fine.jpg', size=(64, 64))
    huge = write_png_header(tmp_path / 'huge.png', 30000, 30000)
    inferencer = AdaLAInferencer(CONFIG, None, device='cpu', cfg_options={'model.backbone.init_cfg': None})
    monkeypatch.setattr(inferencer, 'pipeline', lambda item: pytest.fail('an image was loaded'))
    with pytest.raises(ImageSizeError, match=f'{huge}: 30000x30000 px = 900,000,000 pixels is above the limit'):
        inferencer([str(tmp_path / 'fine.jpg'), str(huge)])
