"""A synthetic segmentation dataset in ADE20K's folder layout, for demos and tests without data.

Why synthetic, and why this content: users of the demo have neither ADE20K nor a GPU, yet a
tiny model trained for a few minutes must reach an mIoU far above chance, and that score must
mean the model learned to use spatial context, not a colour look-up. So every class is a
*texture*, painted on random shapes in a colour pair drawn at random per shape: a single
pixel's colour says nothing about its class, a small neighbourhood says everything.

Why these textures: class c is the sum of two sinusoidal gratings whose wave vectors make
angles +a_c and -a_c with the x axis (a_c evenly spaced in [0, 90] degrees: vertical stripes,
cross-hatches of growing angle, horizontal stripes), with a period drawn per shape. The class
lives in the orientations alone, which survive the augmentations of mmseg's ADE20K pipelines:
flips map the pair {+a, -a} onto itself, and resizing changes only the period.

Why ADE20K's layout and class names: configs then use mmseg's own `ADE20KDataset` unchanged.
Label PNGs hold 0 for "other" (ADE20K's unlabelled, which `reduce_zero_label=True` turns into
255 = ignore) and 1..K for classes that mmseg maps to 0..K-1; the classes are the first K of
ADE20K, so `synthetic_metainfo(K)` makes mmseg's label map the identity on them.
"""
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from mmseg.datasets import ADE20KDataset
from PIL import Image

NUM_ADE_CLASSES = 150
DEFAULT_IMAGE_SIDE = 224
SPLIT_PREFIXES = {'training': 'ADE_train', 'validation': 'ADE_val'}
# Grating periods: at least 3 px after the 0.5x downscaling of mmseg's RandomResize.
PERIOD_RANGE_PX = (6.0, 12.0)
NOISE_STD = 6.0
MIN_COLOUR_DISTANCE = 80.0  # keeps each texture's contrast visible whatever its colours
SHAPES_PER_OBJECT_AREA = (4, 8)  # shapes per object_size**2 pixels
OTHER_BACKGROUND_PROB = 0.5
# Full-resolution chroma: JPEG's default 4:2:0 would blur gratings whose colours differ in hue only.
JPEG_OPTIONS = dict(quality=95, subsampling=0)

Size = Union[int, Sequence[int]]


def class_half_angles(num_classes: int) -> np.ndarray:
    """Returns a_c in degrees for classes 1..K: their texture's wave vectors are at +-a_c.

    Evenly spaced over [0, 90], so classes stay as far apart as K allows: 0 and 90 are single
    gratings (vertical and horizontal stripes), angles in between cross-hatches.
    """
    check_num_classes(num_classes)
    return np.linspace(0, 90, num_classes) if num_classes > 1 else np.zeros(1)


def synthetic_metainfo(num_classes: int) -> Dict[str, Sequence]:
    """Returns `metainfo` for `ADE20KDataset`: the first K ADE20K classes and their palette.

    Passing it keeps mmseg's label map the identity on labels 1..K (loaded as 0..K-1) and its
    palette the one ADE20K visualisations use.
    """
    check_num_classes(num_classes)
    meta = ADE20KDataset.METAINFO
    return dict(classes=tuple(meta['classes'][:num_classes]),
                palette=[list(colour) for colour in meta['palette'][:num_classes]])


def render_scene(rng: np.random.Generator, size: Size, num_classes: int,
                 object_size: Optional[float] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Draws one image and its labels: textured shapes over a textured or plain background.

    Args:
        rng: the only source of randomness, so a scene is reproducible from its seed.
        size: H or (H, W) in pixels.
        num_classes: K; labels are 0 ("other") and 1..K.
        object_size: pixels of the scale that shapes are drawn at (radii 12-35% of it, 4-8
            shapes per object_size**2). Default: min(H, W), i.e. a handful of shapes per image.
            Texture periods stay 6-12 px whatever this is.

    Returns:
        (H, W, 3) uint8 RGB image and (H, W) uint8 label map.
    """
    check_num_classes(num_classes)
    height, width = pair(size)
    object_size = object_size or min(height, width)
    mean_shapes = rng.uniform(*SHAPES_PER_OBJECT_AREA) * height * width / object_size ** 2
    num_regions = 1 + max(1, round(mean_shapes))  # region 0 is the background

    # Per region: class, texture, colour pair. Plain "other" regions have both colours equal.
    classes = rng.integers(1, num_classes + 1, num_regions)
    if rng.random() < OTHER_BACKGROUND_PROB:
        classes[0] = 0
    half_angle = np.deg2rad(np.concatenate([[0], class_half_angles(num_classes)])[classes])
    colour_a, colour_b = colour_pairs(rng, num_regions)
    colour_b[classes == 0] = colour_a[classes == 0]
    regions = draw_regions(rng, height, width, num_regions, object_size)
    image = paint_gratings(rng, regions, half_angle, colour_a, colour_b)
    return image, classes[regions].astype(np.uint8)


def draw_regions(rng: np.random.Generator, height: int, width: int, num_regions: int,
                 object_size: float) -> np.ndarray:
    """(H, W) int32 map of region ids: 0 is the background, 1.. random shapes in paint order."""
    regions = np.zeros((height, width), np.int32)
    for region in range(1, num_regions):  # later shapes occlude earlier ones
        cv2.fillPoly(regions, [random_outline(rng, height, width, object_size)], region)
    return regions


def paint_gratings(rng: np.random.Generator, regions: np.ndarray, half_angle: np.ndarray,
                   colour_a: np.ndarray, colour_b: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 image: region r textured by two gratings at +-half_angle[r] (radians).

    The period is drawn per region from PERIOD_RANGE_PX; the texture blends the region's two
    colours, and pixel noise of NOISE_STD is added everywhere.
    """
    num_regions = len(half_angle)
    height, width = regions.shape
    wavenumber = 2 * np.pi / rng.uniform(*PERIOD_RANGE_PX, num_regions)
    kx, ky = wavenumber * np.cos(half_angle), wavenumber * np.sin(half_angle)
    # A random shift, not phases: where the two gratings coincide (a = 0 or 90) they then add up.
    shift_x, shift_y = rng.uniform(0, 2 * np.pi / wavenumber, (2, num_regions))

    y, x = np.ogrid[:height, :width]
    # cos(kx x) cos(ky y) is the mean of the gratings along (kx, ky) and (kx, -ky).
    mix = 0.5 + 0.5 * (np.cos(kx[regions] * (x + shift_x[regions]))
                       * np.cos(ky[regions] * (y + shift_y[regions])))
    image = colour_a[regions] + (colour_b - colour_a)[regions] * mix[..., None]
    image += rng.normal(0, NOISE_STD, image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def make_synthetic_ade20k(root: Union[str, Path], num_train: int = 200, num_val: int = 50,
                          image_size: Size = DEFAULT_IMAGE_SIDE, num_classes: int = 5,
                          seed: int = 0, scene: Callable = render_scene) -> dict:
    """Writes the dataset under `root` in ADE20K's layout and returns a summary.

    `scene` draws each image and its labels, `scene(rng, size, num_classes)`: the textures of
    this module by default, or e.g. `context_scenes.render_context_scene`.

    Layout: images/{training,validation}/ADE_{train,val}_%08d.jpg with same-stem label PNGs
    under annotations/. Image i of a split depends only on (seed, split, i), so a larger set
    extends a smaller one with the same seed. Files of an earlier, larger set would silently
    join this one, so folders holding files this call would not write are refused.

    Returns:
        dict with root, num_classes, image_size (H, W), num_images per split, and
        class_frequencies: the training set's fraction of pixels per label value 0..K
        (0 = "other", ignored in training and evaluation), from which chance levels follow.
    """
    check_num_classes(num_classes)
    root, image_size = Path(root), pair(image_size)
    counts = {'training': num_train, 'validation': num_val}
    pixels_per_label = np.zeros(num_classes + 1, np.int64)
    for split_index, (split, count) in enumerate(counts.items()):
        stems = [f'{SPLIT_PREFIXES[split]}_{i + 1:08d}' for i in range(count)]
        image_dir, label_dir = root / 'images' / split, root / 'annotations' / split
        _check_only_own_files(image_dir, {f'{stem}.jpg' for stem in stems})
        _check_only_own_files(label_dir, {f'{stem}.png' for stem in stems})
        image_dir.mkdir(parents=True, exist_ok=True)
        label_dir.mkdir(parents=True, exist_ok=True)
        for i, stem in enumerate(stems):
            rng = np.random.default_rng([seed, split_index, i])
            image, label = scene(rng, image_size, num_classes)
            Image.fromarray(image).save(image_dir / f'{stem}.jpg', **JPEG_OPTIONS)
            Image.fromarray(label).save(label_dir / f'{stem}.png')
            if split == 'training':
                pixels_per_label += np.bincount(label.ravel(), minlength=num_classes + 1)
    return dict(root=str(root), num_classes=num_classes, image_size=image_size,
                num_images=counts,
                class_frequencies=(pixels_per_label / max(pixels_per_label.sum(), 1)).tolist())


def write_synthetic_image(path: Union[str, Path], size: Size = (2048, 2048),
                          num_classes: int = 5, seed: int = 0,
                          object_size: float = DEFAULT_IMAGE_SIDE,
                          scene: Callable = render_scene) -> np.ndarray:
    """Writes one (large) synthetic image, e.g. for a high-resolution inference demo.

    `object_size` defaults to the default training image side, so shapes keep the size a
    model trained on the default dataset saw, and a large image holds many of them.

    Returns:
        the (H, W) uint8 label map (0 = "other", 1..K) to score the prediction against.
    """
    image, label = scene(np.random.default_rng(seed), size, num_classes, object_size)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, **JPEG_OPTIONS)
    return label


def colour_pairs(rng: np.random.Generator, count: int) -> Tuple[np.ndarray, np.ndarray]:
    """Uniformly random RGB pairs, redrawn until each pair is at least MIN_COLOUR_DISTANCE apart."""
    colour_a, colour_b = rng.uniform(0, 255, (2, count, 3))
    while (too_close := np.linalg.norm(colour_a - colour_b, axis=1) < MIN_COLOUR_DISTANCE).any():
        colour_b[too_close] = rng.uniform(0, 255, (too_close.sum(), 3))
    return colour_a, colour_b


def random_outline(rng: np.random.Generator, height: int, width: int,
                    object_size: float) -> np.ndarray:
    """Vertices of a random ellipse, rectangle or star-shaped polygon, rotated, anywhere."""
    radius = rng.uniform(0.12, 0.35) * object_size
    kind = rng.integers(3)
    if kind == 0:  # ellipse
        angles = np.linspace(0, 2 * np.pi, 64, endpoint=False)
        local = radius * np.stack([np.cos(angles), rng.uniform(0.4, 1) * np.sin(angles)], 1)
    elif kind == 1:  # rectangle
        local = radius * np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * [1, rng.uniform(0.3, 1)]
    else:  # star-shaped polygon, possibly concave
        angles = np.sort(rng.uniform(0, 2 * np.pi, rng.integers(3, 9)))
        local = radius * rng.uniform(0.5, 1, (len(angles), 1)) * np.stack(
            [np.cos(angles), np.sin(angles)], 1)
    rotation = rng.uniform(0, 2 * np.pi)
    cos, sin = np.cos(rotation), np.sin(rotation)
    centre = rng.uniform(0, 1, 2) * [width, height]
    return np.rint(local @ np.array([[cos, sin], [-sin, cos]]) + centre).astype(np.int32)


def _check_only_own_files(folder: Path, own_names: set) -> None:
    """Raises if `folder` holds files that a call writing `own_names` would leave behind."""
    foreign = sorted(p.name for p in folder.glob('*') if p.name not in own_names) \
        if folder.is_dir() else []
    if foreign:
        raise FileExistsError(f'{folder} holds {len(foreign)} files this dataset would not '
                              f'overwrite (e.g. {foreign[0]}); use an empty or new root')


def check_num_classes(num_classes: int) -> None:
    if not 1 <= num_classes <= NUM_ADE_CLASSES:
        raise ValueError(f'num_classes must be in 1..{NUM_ADE_CLASSES} (the ADE20K classes), '
                         f'got {num_classes}')


def pair(size: Size) -> Tuple[int, int]:
    height, width = (size, size) if isinstance(size, int) else size
    return int(height), int(width)
