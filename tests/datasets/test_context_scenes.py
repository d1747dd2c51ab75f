"""The demo's task: an object's class is in the image's key, not in the object's own pixels."""
import numpy as np
import pytest
from local_appearance import histogram_classifier_accuracy, patch_features

from mmseg_adala.datasets.context_scenes import BACKGROUND_LABEL, key_hues, render_context_scene

NUM_CLASSES, SIZE, PATCH = 4, 112, 14  # the demo's: background + 3 object classes, 8x8 patches


@pytest.fixture(scope='module')
def scenes():
    """(N, H, W, 3) float32 images and (N, H, W) labels, the demo's generator and size."""
    drawn = [render_context_scene(np.random.default_rng([7, i]), SIZE, NUM_CLASSES) for i in range(240)]
    return np.stack([image for image, _ in drawn]).astype(np.float32), np.stack([label for _, label in drawn])


def object_patches(images, labels):
    """Features and class of every 14x14 patch lying wholly on one object: its mean colour
    (3 values) and its mean texture orientation (2), what a ViT's patch embedding sees."""
    orientation = np.stack([patch_features(image) for image in images])
    colour, texture, classes = [], [], []
    for index in range(len(images)):
        for top in range(0, SIZE, PATCH):
            for left in range(0, SIZE, PATCH):
                cell = (index, slice(top, top + PATCH), slice(left, left + PATCH))
                values = np.unique(labels[cell])
                if len(values) == 1 and values[0] > BACKGROUND_LABEL:
                    colour.append(images[cell].mean((0, 1)))
                    texture.append(orientation[cell].mean((0, 1)))
                    classes.append(values[0])
    return np.array(colour), np.array(texture), np.array(classes)


def test_one_object_class_per_image_told_by_a_solid_key_of_its_hue(scenes):
    images, labels = scenes
    hues = key_hues(NUM_CLASSES - 1)
    for image, label in zip(images, labels):
        present = set(np.unique(label))
        object_classes = present - {0, BACKGROUND_LABEL}
        assert present <= set(range(NUM_CLASSES + 1)) and len(object_classes) == 1
        object_class, = object_classes
        key = image[label == 0]  # the key is the only pixel labelled 0 (ignored by mmseg)
        assert len(key) == 22 * 22  # KEY_SIDE_FRACTION of the image side, drawn on top
        nearest_hue = np.argmin(np.linalg.norm(hues - key.mean(0), axis=1))
        assert nearest_hue + 2 == object_class


def test_one_patch_of_an_object_does_not_tell_its_class(scenes):
    """Chance is 1/3 per patch; a classifier of any function of these features can only learn
    the class frequencies. The key, read from anywhere in the image, tells it every time."""
    images, labels = scenes
    colour, texture, classes = object_patches(images, labels)
    half = len(classes) // 2
    majority = np.bincount(classes[half:]).max() / len(classes[half:])
    assert len(classes) > 1000 and majority < 0.45
    for features, bins in ((colour, 6), (texture, 12)):
        accuracy = histogram_classifier_accuracy(features[:half], classes[:half], features[half:], classes[half:],
                                                 bins=bins)
        assert accuracy < majority + 0.05, (accuracy, majority)


def test_refuses_too_few_classes_for_a_key():
    with pytest.raises(ValueError, match='at least 2 object classes'):
        render_context_scene(np.random.default_rng(0), 64, num_classes=2)
