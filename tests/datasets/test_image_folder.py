"""UnlabeledImageFolder, LoadImageOrSkip and RandomResizedCrop on tiny images in tmp_path."""
import logging

import cv2
import mmcv
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS
from torch.utils.data import DataLoader

from mmseg_adala.datasets import LoadImageOrSkip, RandomResizedCrop, UnlabeledImageFolder

PIPELINE = [
    dict(type='LoadImageOrSkip'),
    dict(type='RandomResizedCrop', size=32),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]


@pytest.fixture(autouse=True)
def _mmseg_scope():
    """Pipelines name transforms without a scope, as mmseg configs do; crops use numpy's RNG."""
    init_default_scope('mmseg')
    np.random.seed(0)


@pytest.fixture
def warnings_log(request):
    """The records of a fresh MMLogger, which becomes the current instance the code logs to."""
    logger = MMLogger.get_instance(f'test-{request.node.name}', log_level='WARNING')
    records = []
    handler = logging.Handler(logging.WARNING)  # not the registry's debug messages
    handler.emit = records.append
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def touch(root, *names):
    """Create empty files (the scan does not read them) and return their sorted paths."""
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).touch()
    return sorted(str(root / name) for name in names)


def write_image(path, h, w):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.random.randint(0, 256, (h, w, 3), dtype=np.uint8))
    return str(path)


def paths(dataset):
    return [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]


def test_coco_like_flat_folder(tmp_path):
    expected = touch(tmp_path, '000000000139.jpg', '000000000009.jpg', 'b.png', 'c.webp')
    touch(tmp_path, 'captions.txt', 'a.gif')
    dataset = DATASETS.build(dict(type='UnlabeledImageFolder', data_root=str(tmp_path)))
    assert isinstance(dataset, UnlabeledImageFolder)
    assert paths(dataset) == expected
    assert dataset.get_data_info(0) == dict(img_path=expected[0], sample_idx=0)


def test_imagenet_like_class_folders_with_mixed_case_extensions(tmp_path):
    expected = touch(tmp_path, 'n02/n02_1.JPEG', 'n01/n01_2.jpeg', 'n01/n01_1.JPEG',
                     'n01/sub/x.Png')
    touch(tmp_path, 'n01/README.txt', 'words.txt')
    dataset = UnlabeledImageFolder(data_root=str(tmp_path), serialize_data=False)
    assert paths(dataset) == expected
    assert paths(UnlabeledImageFolder(data_root=str(tmp_path), extensions=['.TXT'])) == touch(
        tmp_path, 'n01/README.txt', 'words.txt')


def test_ann_file_keeps_its_order_and_skips_comments(tmp_path):
    (tmp_path / 'list.txt').write_text('# stage-1 images\nn02/b.JPEG\n\n  n01/a.jpg  \n# end\n')
    dataset = UnlabeledImageFolder(data_root=str(tmp_path), ann_file='list.txt')
    assert paths(dataset) == [str(tmp_path / 'n02/b.JPEG'), str(tmp_path / 'n01/a.jpg')]


def test_lazy_init_defers_the_scan(tmp_path):
    dataset = UnlabeledImageFolder(data_root=str(tmp_path / 'later'), lazy_init=True)
    expected = touch(tmp_path / 'later', 'a.jpg')
    assert paths(dataset) == expected


@pytest.mark.parametrize('test_mode, key', [(False, 'train_dataloader.dataset'),
                                            (True, 'val_dataloader.dataset')])
@pytest.mark.parametrize('case, error', [
    ('missing root', FileNotFoundError),
    ('root is a file', ValueError),
    ('empty root', ValueError),
    ('no image extensions', ValueError),
    ('missing ann_file', FileNotFoundError),
    ('empty ann_file', ValueError),
])
def test_errors_name_the_path_and_the_setting(tmp_path, case, error, test_mode, key):
    root, kwargs = tmp_path / 'images', {}
    root.mkdir()
    if case == 'missing root':
        root = tmp_path / 'nope'
    elif case == 'root is a file':
        root = tmp_path / 'file.jpg'
        root.touch()
    elif case == 'no image extensions':
        touch(root, 'a.txt')
    elif case == 'missing ann_file':
        touch(root, 'a.jpg')
        kwargs = dict(ann_file=str(tmp_path / 'missing.txt'))
    elif case == 'empty ann_file':
        (tmp_path / 'list.txt').write_text('# nothing yet\n')
        kwargs = dict(ann_file=str(tmp_path / 'list.txt'))
    with pytest.raises(error) as info:
        UnlabeledImageFolder(data_root=str(root), test_mode=test_mode, **kwargs)
    path = kwargs.get('ann_file', str(root))
    assert path in str(info.value)
    assert key + ('.ann_file' if 'ann_file' in case else '.data_root') in str(info.value)


@pytest.mark.parametrize('every', [2, 3, 7])
def test_held_out_slice_does_not_overlap_training(tmp_path, every):
    names = [f'n0{i % 3}/{i:02d}.JPEG' for i in range(20)]
    everything = touch(tmp_path, *names)
    train = paths(UnlabeledImageFolder(data_root=str(tmp_path), held_out_every=every))
    held_out = paths(UnlabeledImageFolder(data_root=str(tmp_path), held_out_every=every, held_out=True))
    assert held_out == everything[::every]
    assert not set(train) & set(held_out)
    assert sorted(train + held_out) == everything
    assert {path.split('/')[-2] for path in held_out} == {'n00', 'n01', 'n02'}  # every class


def test_held_out_needs_a_slice(tmp_path):
    touch(tmp_path, 'a.jpg')
    with pytest.raises(ValueError, match='held_out_every'):
        UnlabeledImageFolder(data_root=str(tmp_path), held_out=True)
    with pytest.raises(ValueError, match='no training images'):
        UnlabeledImageFolder(data_root=str(tmp_path), held_out_every=1)


def test_validation_never_replaces_an_unreadable_image(tmp_path, warnings_log):
    good = [write_image(tmp_path / f'{name}.jpg', 40, 50) for name in 'ac']
    (tmp_path / 'b.jpg').write_bytes(b'not an image')
    dataset = UnlabeledImageFolder(data_root=str(tmp_path), pipeline=PIPELINE, test_mode=True)
    assert [dataset[i]['data_samples'].img_path for i in (0, 2)] == good
    with pytest.raises(RuntimeError, match='validation does not replace images') as info:
        dataset[1]
    assert str(tmp_path / 'b.jpg') in str(info.value)
    assert dataset.num_skipped == 1


def test_each_training_sample_carries_its_skips(tmp_path, warnings_log):
    write_image(tmp_path / 'a.jpg', 40, 50)
    (tmp_path / 'b.jpg').write_bytes(b'not an image')
    dataset = UnlabeledImageFolder(data_root=str(tmp_path), pipeline=PIPELINE)
    assert dataset[0]['data_samples'].num_skipped == 0
    # b.jpg is skipped, then random draws until a.jpg: every skip on the way is counted.
    assert dataset[1]['data_samples'].num_skipped == dataset.num_skipped >= 1


def test_unreadable_images_are_skipped_counted_and_logged(tmp_path, warnings_log):
    good = {write_image(tmp_path / 'a.jpg', 40, 50), write_image(tmp_path / 'b.png', 64, 48),
            write_image(tmp_path / 'd/c.jpg', 33, 33)}
    (tmp_path / 'corrupt.jpg').write_bytes(np.random.bytes(300))
    (tmp_path / 'empty.png').touch()
    bad = {str(tmp_path / 'corrupt.jpg'), str(tmp_path / 'empty.png')}
    dataset = UnlabeledImageFolder(data_root=str(tmp_path), pipeline=PIPELINE)
    assert len(dataset) == 5 and dataset.num_skipped == 0

    samples = [dataset[i] for i in range(len(dataset))]
    for sample in samples:
        assert sample['inputs'].shape == (3, 32, 32) and sample['inputs'].dtype == torch.uint8
        assert sample['data_samples'].img_path in good
        assert sample['data_samples'].img_shape == (32, 32)
    # Each bad index is met once directly; a random refetch may draw a bad one again.
    warned = [r.getMessage() for r in warnings_log if 'Skipping unreadable image' in r.getMessage()]
    assert dataset.num_skipped == len(warned) >= 2
    assert all(sum(path in msg for path in bad) == 1 for msg in warned)
    assert {path for path in bad if any(path in msg for msg in warned)} == bad
    assert all(r.levelno == logging.WARNING for r in warnings_log)


def test_load_image_or_skip_counts_each_failure(tmp_path, warnings_log):
    load = LoadImageOrSkip(to_float32=True)
    img_path = write_image(tmp_path / 'ok.png', 5, 7)
    out = load(dict(img_path=img_path))
    assert out['img'].dtype == np.float32 and out['img_shape'] == out['ori_shape'] == (5, 7)
    (tmp_path / 'cut.png').write_bytes((tmp_path / 'ok.png').read_bytes()[:20])
    (tmp_path / 'empty.jpg').touch()
    for name in ('missing.jpg', 'empty.jpg', 'cut.png'):
        assert load(dict(img_path=str(tmp_path / name))) is None
    assert load.num_skipped == 3
    assert [str(tmp_path / name) in r.getMessage() for r, name in
            zip(warnings_log, ('missing.jpg', 'empty.jpg', 'cut.png'))] == [True] * 3
    assert 'FileNotFoundError' in warnings_log[0].getMessage()


def test_mostly_broken_folder_fails_clearly(tmp_path, warnings_log):
    for name in ('x.jpg', 'y.jpg'):
        (tmp_path / name).write_bytes(b'not an image')
    dataset = UnlabeledImageFolder(data_root=str(tmp_path), pipeline=PIPELINE, max_refetch=3)
    with pytest.raises(RuntimeError, match='4 samples in a row') as info:
        dataset[0]
    assert str(tmp_path) in str(info.value)
    assert dataset.num_skipped == len(warnings_log) == 4


@pytest.mark.parametrize('size, shape', [(16, (16, 16)), ((20, 30), (20, 30))])
def test_random_resized_crop_output_size(size, shape):
    img = np.random.randint(0, 256, (50, 70, 3), dtype=np.uint8)
    for _ in range(5):
        out = RandomResizedCrop(size=size)(dict(img=img, img_shape=img.shape[:2]))
        assert out['img'].shape == (*shape, 3) and out['img_shape'] == shape


@pytest.mark.parametrize('interpolation', ['bicubic', 'bilinear'])
def test_random_resized_crop_of_the_whole_square_is_a_resize(interpolation):
    img = np.random.randint(0, 256, (40, 40, 3), dtype=np.uint8)
    crop = RandomResizedCrop(size=16, scale=(1, 1), ratio=(1, 1), interpolation=interpolation)
    expected = mmcv.imresize(img, (16, 16), interpolation=interpolation)
    np.testing.assert_array_equal(crop(dict(img=img))['img'], expected)


def test_random_resized_crop_falls_back_to_a_center_crop():
    img = np.random.randint(0, 256, (40, 60, 3), dtype=np.uint8)  # no 1:1 crop of all 2400 px
    crop = RandomResizedCrop(size=16, scale=(1, 1), ratio=(1, 1))
    assert crop.crop_box(40, 60) == (0, 10, 40, 40)
    expected = mmcv.imresize(img[:, 10:50], (16, 16), interpolation='bicubic')
    np.testing.assert_array_equal(crop(dict(img=img))['img'], expected)


def test_dataloader_with_pseudo_collate(tmp_path):
    for i in range(3):
        write_image(tmp_path / f'n0{i}' / f'{i}.JPEG', 24 + 8 * i, 40)
    dataset = UnlabeledImageFolder(data_root=str(tmp_path), pipeline=PIPELINE)
    batch = next(iter(DataLoader(dataset, batch_size=2, collate_fn=pseudo_collate)))
    assert [x.shape for x in batch['inputs']] == [(3, 32, 32)] * 2
    assert [s.img_path for s in batch['data_samples']] == paths(dataset)[:2]
