"""Scenes whose objects only global context can classify: the demo's task.

Why: ViT-AdaLA's claim is that alignment keeps what softmax attention computes. A task that
one patch already tells (the orientation textures of `synthetic_ade20k`) needs no attention,
so every backbone scores alike on it and the claim cannot be seen. Here the class of an object
is nowhere in its own pixels:

- every object is a random shape filled with gratings of random orientation, period and
  colour pair, drawn from the same distribution whatever its class;
- one small *key* square somewhere in the image, solid in one of K hues, says the class of
  every object in that image;
- the background is plain grey (a class of its own, which one patch does tell).

A token on an object can know its class only by attending to the key, as softmax attention
does sharply and a linear attention copied from it without alignment does not. The key's
pixels are labelled 0 ("other", ignored), so scoring them would not leak the answer.

Labels: 0 = key (ignored), 1 = background, 2..K+1 = the K object classes, in ADE20K's
layout through `make_synthetic_ade20k(..., scene=render_context_scene)`.
"""
import colorsys
from typing import Optional, Tuple

import numpy as np

from .synthetic_ade20k import (Size, check_num_classes, colour_pairs, draw_regions, pair,
                               paint_gratings)

BACKGROUND_LABEL = 1
KEY_SIDE_FRACTION = 0.2  # of object_size: 22 px at the demo's 112 px, over one 14-px patch
SHAPES_PER_IMAGE = (2, 5)  # per object_size**2 pixels
GREY_RANGE = (50, 205)


def key_hues(num_object_classes: int) -> np.ndarray:
    """(K, 3) RGB of the keys: K fully saturated hues evenly spaced around the colour wheel."""
    return np.array([colorsys.hsv_to_rgb(i / num_object_classes, 1.0, 1.0)
                     for i in range(num_object_classes)]) * 255


def render_context_scene(rng: np.random.Generator, size: Size, num_classes: int,
                         object_size: Optional[float] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Draws one image and its labels (see the module docstring).

    Args:
        rng: the only source of randomness, so a scene is reproducible from its seed.
        size: H or (H, W) in pixels.
        num_classes: labelled classes including the background, so K = num_classes - 1 object
            classes (at least 2).
        object_size: the scale of shapes and key in pixels (default min(H, W)). A larger image
            holds more shapes but still one key.

    Returns:
        (H, W, 3) uint8 RGB image and (H, W) uint8 label map.
    """
    check_num_classes(num_classes)
    if num_classes < 3:
        raise ValueError(f'context scenes need a background and at least 2 object classes: '
                         f'num_classes >= 3, got {num_classes}')
    height, width = pair(size)
    object_size = object_size or min(height, width)
    object_class = rng.integers(2, num_classes + 1)
    num_shapes = max(1, round(rng.uniform(*SHAPES_PER_IMAGE) * height * width / object_size ** 2))

    # Regions: 0 background, 1..num_shapes objects, then the key on top of everything.
    regions = draw_regions(rng, height, width, num_shapes + 1, object_size)
    key = num_shapes + 1
    side = max(2, round(KEY_SIDE_FRACTION * object_size))
    top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
    regions[top:top + side, left:left + side] = key

    colour_a, colour_b = colour_pairs(rng, key + 1)
    colour_a[0] = colour_b[0] = rng.uniform(*GREY_RANGE)
    colour_a[key] = colour_b[key] = key_hues(num_classes - 1)[object_class - 2]
    half_angle = rng.uniform(0, np.pi, key + 1)
    image = paint_gratings(rng, regions, half_angle, colour_a, colour_b)

    labels = np.full(key + 1, object_class, np.uint8)
    labels[0], labels[key] = BACKGROUND_LABEL, 0
    return image, labels[regions]
