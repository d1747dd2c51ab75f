"""An image's size read from its file header, so that a huge image is refused before it is decoded.

A 0.9 MB PNG of 30000x30000 px decodes to 2.7 GB, and every copy the pipeline makes (float
conversion, normalisation, the model's input) costs as much again: OpenCV and mmcv decode
whatever they are given. PIL reads the size from the header without decoding the pixels.
"""
import math
from contextlib import contextmanager
from typing import IO, Iterator, Optional, Sequence, Tuple, Union

from PIL import Image, UnidentifiedImageError

# 268 Mpx: a 16384x16384 image, 0.8 GB as decoded BGR uint8.
DEFAULT_MAX_PIXELS = 16384 ** 2
LIMIT_SETTINGS = 'tools/infer.py --max-pixels N; training and tools/test.py: --cfg-options max_image_pixels=N'


class ImageSizeError(ValueError):
    """An image too large to decode, or whose shape the model cannot take: the message names the file."""


@contextmanager
def _without_pil_pixel_limit() -> Iterator[None]:
    """PIL's own decompression-bomb limit (178 Mpx) would refuse to even report larger sizes."""
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def header_size(file: Union[str, IO[bytes]]) -> Optional[Tuple[int, int]]:
    """(width, height) from the header of a file (a path or an open binary file), pixels not
    decoded; None if PIL cannot identify it (the decoder then gives its own error)."""
    try:
        with _without_pil_pixel_limit(), Image.open(file) as image:
            return image.size
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def pixel_limit_problem(size: Tuple[int, int], max_pixels: int = DEFAULT_MAX_PIXELS) -> Optional[str]:
    """What is wrong with a `size` (width, height) image of more than `max_pixels` pixels, or None."""
    width, height = size
    if width * height <= max_pixels:
        return None
    side = math.isqrt(max_pixels)
    limit = f'{max_pixels:,}' + (f' ({side}^2)' if side * side == max_pixels else '')
    return (f'{width}x{height} px = {width * height:,} pixels is above the limit of {limit}; decoded it would take '
            f'{width * height * 3 / 1e9:.2g} GB before any copy. Downscale or tile it, or raise the limit '
            f'({LIMIT_SETTINGS})')


def check_pixel_limit(path: str, size: Tuple[int, int], max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Raise `ImageSizeError` if a `size` (width, height) image has more than `max_pixels` pixels."""
    problem = pixel_limit_problem(size, max_pixels)
    if problem:
        raise ImageSizeError(f'{path}: {problem}')


def rescaled_size(size: Tuple[int, int], scale: Sequence[int]) -> Tuple[int, int]:
    """(width, height) after mmcv's keep-ratio resize (`Resize(scale, keep_ratio=True)`): the image
    scaled to fit within `scale`'s long and short sides (mmcv's `rescale_size`)."""
    width, height = size
    factor = min(max(scale) / max(width, height), min(scale) / min(width, height))
    return int(width * factor + 0.5), int(height * factor + 0.5)


def check_fits_model(path: str, size: Tuple[int, int], scale: Sequence[int], min_side: int, how: str) -> None:
    """Raise `ImageSizeError` if the image, resized to fit `scale` with its aspect ratio kept, has a
    side below `min_side` px: an aspect ratio the model cannot take at that scale (OpenCV's resize
    fails on a 0-px side with a raw `inv_scale_x > 0` assertion; the model on fewer px than it needs).

    Args:
        path: The file, for the message.
        size: Its (width, height).
        scale: The keep-ratio resize scale (W, H).
        min_side: The model's smallest input side in px (1: what a resize can make).
        how: How the scale was chosen, for the message (e.g. "the config's test scale").
    """
    width, height = size
    resized = rescaled_size(size, scale)
    if min(resized) >= min_side:
        return
    aspect = max(width, height) / max(min(width, height), 1)
    raise ImageSizeError(
        f'{path}: {width}x{height} px (aspect ratio {aspect:.0f}:1) is a shape this model cannot take: resized to '
        f'{how} {tuple(scale)}, aspect ratio kept, it would be {resized[0]}x{resized[1]} px, and '
        f'{"the model" if min_side > 1 else "an image"} needs at least {min_side} px per side; at this scale it '
        f'takes aspect ratios up to {max(scale) // min_side}:1. Crop it into parts closer to square, or pad it')
