"""Label maps are checked where they are read, in training and in tools/test.py, and `--check-data`
lists every bad sample before any work, naming the file. Unchecked, a 200 in a 3-class set trains
into `IndexError: Target 199 is out of bounds` and evaluates to a wrong mIoU without a word, and a
label of another size fails in the metric or the collate function, naming no file."""
import os
import os.path as osp
import re

import cv2
import numpy as np
import pytest
import torch
from mmseg.apis import init_model
from tiny import TINY_CONFIGS, synthetic_data_options

from mmseg_adala import test as test_tool
from mmseg_adala import train as train_tool
from mmseg_adala.datasets.sample_checks import CheckLabelMap, LabelMapError
from mmseg_adala.datasets.synthetic_ade20k import make_synthetic_ade20k
from mmseg_adala.engine.run_config import load_run_config

STAGE3 = osp.join(TINY_CONFIGS, 'adala_upernet_synthetic_tiny.py')
TWO_ITERATIONS = ['train_dataloader.batch_size=2', 'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
                  'default_hooks.checkpoint.interval=2']


@pytest.fixture
def data(tmp_path):
    """4 training and 2 validation images of 64x64 px, 3 classes (label files: 0 = other, 1..3)."""
    root = tmp_path / 'data'
    make_synthetic_ade20k(str(root), num_train=4, num_val=2, image_size=64, num_classes=3)
    return root


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    model = init_model(load_run_config(STAGE3, cfg_options={'model.backbone.init_cfg': None}), None, device='cpu')
    path = tmp_path_factory.mktemp('segmentor') / 'segmentor.pth'
    torch.save(dict(state_dict=model.state_dict()), path)
    return str(path)


def label_path(data, split, i):
    prefix = 'ADE_train' if split == 'training' else 'ADE_val'
    return data / 'annotations' / split / f'{prefix}_{i:08d}.png'


def write_unknown_ids(path):
    """File value 200 (class 199 after reduce_zero_label) in a 3-class set, over 12 pixels."""
    labels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    labels[:3, :4] = 200
    cv2.imwrite(str(path), labels)


def write_taller(path):
    """The label map 96 px high under a 64x64 image."""
    cv2.imwrite(str(path), np.ones((96, 64), np.uint8))


UNKNOWN_IDS = (r'holds class ids outside \[0, 3\) other than the ignore index 255: 199 \(12 px\); in the file these '
               r'are 200, as reduce_zero_label maps a file\'s value v to class v - 1 and 0 to the ignore index')


def test_check_label_map_names_the_file_and_what_it_found():
    results = dict(img_path='a.jpg', seg_map_path='a.png', ori_shape=(2, 3), reduce_zero_label=False,
                   gt_seg_map=np.array([[0, 1, 2], [255, 7, 7]], np.uint8))
    with pytest.raises(LabelMapError, match=r'label map a.png holds class ids outside \[0, 3\) other than the ignore '
                                            r'index 255: 7 \(2 px\)\. The model has 3 classes'):
        CheckLabelMap(num_classes=3)(results)
    assert CheckLabelMap(num_classes=8)(results) is results
    with pytest.raises(LabelMapError, match=r'label map a.png is 3x2 px with 3 channels, but its image a.jpg is 3x2 px'):
        CheckLabelMap(num_classes=8)(dict(results, gt_seg_map=np.zeros((2, 3, 3), np.uint8)))


def test_evaluation_names_a_label_map_with_ids_the_model_lacks(data, checkpoint, tmp_path):
    write_unknown_ids(label_path(data, 'validation', 2))
    with pytest.raises(SystemExit) as refused:
        test_tool.main([STAGE3, checkpoint, '--work-dir', str(tmp_path / 'work'), '--cfg-options',
                        *synthetic_data_options(str(data))])
    message = str(refused.value.code)
    assert re.search(f'label map {re.escape(str(label_path(data, "validation", 2)))} {UNKNOWN_IDS}', message), message


def test_training_names_a_label_map_with_ids_the_model_lacks(data, tmp_path):
    write_unknown_ids(label_path(data, 'training', 3))
    with pytest.raises(SystemExit) as refused:
        train_tool.main([STAGE3, '--work-dir', str(tmp_path / 'work'), '--cfg-options',
                         *synthetic_data_options(str(data)), *TWO_ITERATIONS])
    assert re.search(f'label map {re.escape(str(label_path(data, "training", 3)))} {UNKNOWN_IDS}',
                     str(refused.value.code)), refused.value.code


@pytest.mark.parametrize('tool', ['train', 'test'])
def test_a_label_map_of_another_size_than_its_image_is_named(tool, data, checkpoint, tmp_path):
    split = 'training' if tool == 'train' else 'validation'
    write_taller(label_path(data, split, 1))
    with pytest.raises(SystemExit) as refused:
        if tool == 'train':
            train_tool.main([STAGE3, '--work-dir', str(tmp_path / 'work'), '--cfg-options',
                             *synthetic_data_options(str(data)), *TWO_ITERATIONS])
        else:
            test_tool.main([STAGE3, checkpoint, '--work-dir', str(tmp_path / 'work'), '--cfg-options',
                            *synthetic_data_options(str(data))])
    image = data / 'images' / split / label_path(data, split, 1).with_suffix('.jpg').name
    assert f'label map {label_path(data, split, 1)} is 64x96 px, but its image {image} is 64x64 px' in str(
        refused.value.code)


def test_check_data_lists_every_bad_sample_before_any_work(data, checkpoint, tmp_path, monkeypatch):
    write_unknown_ids(label_path(data, 'validation', 1))
    write_taller(label_path(data, 'validation', 2))
    monkeypatch.setattr(test_tool.Runner, 'test', lambda runner: pytest.fail('evaluation started'))
    with pytest.raises(SystemExit) as refused:
        test_tool.main([STAGE3, checkpoint, '--check-data', '--work-dir', str(tmp_path / 'work'), '--cfg-options',
                        *synthetic_data_options(str(data))])
    lines = str(refused.value.code).splitlines()
    assert lines[0].endswith('--check-data: 2 of the 2 samples of the test set are bad:')
    assert re.match(f'  label map {re.escape(str(label_path(data, "validation", 1)))} {UNKNOWN_IDS}', lines[1])
    assert lines[2].startswith(f'  label map {label_path(data, "validation", 2)} is 64x96 px')


def test_check_data_of_a_sound_set_goes_on_to_the_work(data, checkpoint, tmp_path):
    metrics = test_tool.main([STAGE3, checkpoint, '--check-data', '--work-dir', str(tmp_path / 'work'),
                              '--cfg-options', *synthetic_data_options(str(data))])
    assert 0 <= metrics['mIoU'] <= 100


def test_check_data_before_training(data, tmp_path):
    write_unknown_ids(label_path(data, 'training', 4))
    with pytest.raises(SystemExit) as refused:
        train_tool.main([STAGE3, '--check-data', '--work-dir', str(tmp_path / 'work'), '--cfg-options',
                         *synthetic_data_options(str(data)), *TWO_ITERATIONS])
    assert '--check-data: 1 of the 4 samples of the training set are bad' in str(refused.value.code)
    assert not [name for name in os.listdir(tmp_path / 'work') if name.endswith('.pth')]
