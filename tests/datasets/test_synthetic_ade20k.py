import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from local_appearance import histogram_classifier_accuracy, patch_features
from PIL import Image

from mmseg_adala.datasets.synthetic_ade20k import (class_half_angles, make_synthetic_ade20k,
                                                   synthetic_metainfo, write_synthetic_image)

K, SIZE, NUM_TRAIN, NUM_VAL = 5, 128, 40, 10
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp('synthetic_ade20k')
    return root, make_synthetic_ade20k(root, NUM_TRAIN, NUM_VAL, SIZE, K, seed=0)


def load_split(root, split):
    """(N, H, W, 3) float32 RGB images and (N, H, W) labels, in stem order."""
    paths = sorted((root / 'images' / split).glob('*.jpg'))
    images = np.stack([np.asarray(Image.open(p), np.float32) for p in paths])
    labels = np.stack([np.asarray(Image.open(root / 'annotations' / split / f'{p.stem}.png'))
                       for p in paths])
    return images, labels


def test_layout_names_counts_and_values(dataset):
    root, summary = dataset
    assert sorted(str(p.relative_to(root)) for p in root.glob('*/*')) == [
        'annotations/training', 'annotations/validation', 'images/training', 'images/validation']
    for split, prefix, count in [('training', 'ADE_train', NUM_TRAIN),
                                 ('validation', 'ADE_val', NUM_VAL)]:
        images = sorted(p.name for p in (root / 'images' / split).iterdir())
        labels = sorted(p.name for p in (root / 'annotations' / split).iterdir())
        assert images == [f'{prefix}_{i:08d}.jpg' for i in range(1, count + 1)]
        assert labels == [name.replace('.jpg', '.png') for name in images]
        image = Image.open(root / 'images' / split / images[0])
        label = Image.open(root / 'annotations' / split / labels[0])
        assert (image.mode, image.size, label.mode, label.size) == ('RGB', (SIZE, SIZE), 'L',
                                                                    (SIZE, SIZE))
    _, labels = load_split(root, 'training')
    assert labels.dtype == np.uint8 and set(np.unique(labels)) == set(range(K + 1))
    expected = np.bincount(labels.ravel(), minlength=K + 1) / labels.size
    np.testing.assert_allclose(summary['class_frequencies'], expected)
    assert summary['num_images'] == {'training': NUM_TRAIN, 'validation': NUM_VAL}


def test_same_seed_same_bytes_different_seed_different_labels(tmp_path):
    def make(name, seed, num_train=2):
        make_synthetic_ade20k(tmp_path / name, num_train, 1, 48, K, seed=seed)
        return {p.relative_to(tmp_path / name): p.read_bytes()
                for p in sorted((tmp_path / name).glob('*/*/*'))}

    def labels(files):
        return [content for path, content in files.items() if path.suffix == '.png']

    first = make('a', seed=3)
    assert first == make('b', seed=3)
    assert all(x != y for x, y in zip(labels(first), labels(make('c', seed=4))))
    # Image i depends on (seed, split, i) only, so a larger set extends a smaller one.
    assert first.items() < make('d', seed=3, num_train=3).items()


def test_refuses_to_mix_with_files_of_a_larger_set(tmp_path):
    make_synthetic_ade20k(tmp_path, 3, 1, 32, K)
    make_synthetic_ade20k(tmp_path, 3, 1, 32, K)  # rewriting the same set is fine
    with pytest.raises(FileExistsError, match='ADE_train_00000003'):
        make_synthetic_ade20k(tmp_path, 2, 1, 32, K)


def test_single_pixel_colour_does_not_predict_class_but_a_small_patch_does(dataset):
    """Only the K classes matter (label 0 is ignored in training and mIoU), so score those."""
    root, _ = dataset
    train_images, train_labels = load_split(root, 'training')
    test_images, test_labels = load_split(root, 'validation')
    train_mask, test_mask = train_labels > 0, test_labels > 0
    train_y, test_y = train_labels[train_mask], test_labels[test_mask]
    majority = np.bincount(test_y).max() / test_y.size

    pixel_accuracy = histogram_classifier_accuracy(train_images[train_mask], train_y,
                                                   test_images[test_mask], test_y)
    train_patches = np.stack([patch_features(image) for image in train_images])
    test_patches = np.stack([patch_features(image) for image in test_images])
    patch_accuracy = histogram_classifier_accuracy(train_patches[train_mask], train_y,
                                                   test_patches[test_mask], test_y)
    # Measured 0.15 (most frequent class 0.36, 1/K 0.2) and 0.76; on the default set 0.19, 0.84.
    assert pixel_accuracy < majority + 0.05
    assert patch_accuracy > 0.65 and patch_accuracy > pixel_accuracy + 0.4


def test_each_class_has_its_own_orientations_and_they_survive_flips(dataset):
    """Gratings at +-a give (cos 2 theta, sin 2 theta) = (cos 2a, 0) times the coherence.

    The first component tells the classes apart; the second, which a flip negates, is zero,
    so a flipped texture of class c looks like class c, not like another class. Measured away
    from shape borders, where the window sees one texture only; noise lowers the coherence of
    all classes alike, hence the comparison relative to class 1 (a = 0: pure vertical stripes).
    """
    root, _ = dataset
    images, labels = load_split(root, 'training')
    features = np.stack([patch_features(image) for image in images])
    half_angles = class_half_angles(K)
    np.testing.assert_allclose(half_angles, [0, 22.5, 45, 67.5, 90])
    means = []
    for label in range(1, K + 1):
        interior = np.stack([cv2.erode((y == label).astype(np.uint8), np.ones((9, 9)))
                             for y in labels]) > 0
        means.append(features[interior].mean(0))
    cos2, sin2 = np.array(means).T
    np.testing.assert_allclose(cos2 / cos2[0], np.cos(np.deg2rad(2 * half_angles)), atol=0.1)
    np.testing.assert_allclose(sin2, 0, atol=0.03)
    assert cos2[0] > 0.8


def test_ade20k_dataset_loads_it_with_reduced_labels(dataset):
    from mmcv.transforms import LoadImageFromFile
    from mmseg.datasets import ADE20KDataset
    from mmseg.datasets.transforms import LoadAnnotations

    root, _ = dataset
    metainfo = synthetic_metainfo(K)
    assert metainfo['classes'] == ('wall', 'building', 'sky', 'floor', 'tree')
    assert metainfo['palette'] == [list(c) for c in ADE20KDataset.METAINFO['palette'][:K]]
    ade = ADE20KDataset(
        data_root=str(root),
        data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
        metainfo=metainfo, pipeline=[LoadImageFromFile(), LoadAnnotations()])
    assert len(ade) == NUM_VAL and ade.metainfo['classes'] == metainfo['classes']
    for index in (0, NUM_VAL - 1):
        sample = ade[index]
        raw = np.asarray(Image.open(sample['seg_map_path']))
        assert sample['img'].shape == (SIZE, SIZE, 3)
        gt = sample['gt_seg_map']
        assert set(np.unique(gt)) <= set(range(K)) | {255}
        # Where the generator drew class c (1-based) mmseg says c - 1; "other" (0) is ignored.
        np.testing.assert_array_equal(gt, np.where(raw == 0, 255, raw.astype(int) - 1))


def test_write_synthetic_image_keeps_height_width_order(tmp_path):
    label = write_synthetic_image(tmp_path / 'big.jpg', size=(300, 200), num_classes=3, seed=1)
    image = Image.open(tmp_path / 'big.jpg')
    assert (image.mode, image.size, label.shape) == ('RGB', (200, 300), (300, 200))
    assert label.dtype == np.uint8 and set(np.unique(label)) <= set(range(4))


@pytest.mark.slow
def test_cli_writes_the_layout(tmp_path):
    # The repository on the path, in case the package is not installed (editable) here.
    pythonpath = os.pathsep.join([str(REPO), os.environ.get('PYTHONPATH', '')])
    env = dict(os.environ, PYTHONPATH=pythonpath)
    result = subprocess.run(
        [sys.executable, 'tools/make_synthetic_ade20k.py', str(tmp_path / 'out'), '--num-train',
         '4', '--num-val', '2', '--size', '64'], cwd=REPO, env=env, capture_output=True,
        text=True, check=True)
    assert str(tmp_path / 'out') in result.stdout
    counts = {str(p.relative_to(tmp_path / 'out')): len(list(p.iterdir()))
              for p in (tmp_path / 'out').glob('*/*')}
    assert counts == {'images/training': 4, 'images/validation': 2,
                      'annotations/training': 4, 'annotations/validation': 2}
    assert Image.open(next((tmp_path / 'out/images/training').iterdir())).size == (64, 64)
