"""Transforms for the unlabeled distillation stages that mmcv and mmseg lack.

`LoadImageOrSkip` turns an unreadable image (or one above the pixel limit) into a skipped sample
instead of a crash, which a multi-day run over ImageNet-22K (where a few files are always
broken) needs. mmcv's ``LoadImageFromFile(ignore_empty=True)`` is not that: it returns None
only when reading raises, silently; bytes OpenCV cannot decode (it returns None) still fail its
assertion, and it has no pixel limit, warning or count of the skipped files.
`RandomResizedCrop` is the Inception-style crop that DINOv2 trains with; mmcv only has the
fixed-ratio resizes that segmentation uses.
"""
import io
import math
from typing import Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine import fileio
from mmengine.logging import MMLogger
from mmseg.registry import TRANSFORMS

from .image_size import DEFAULT_MAX_PIXELS, header_size, pixel_limit_problem


@TRANSFORMS.register_module()
class LoadImageOrSkip(BaseTransform):
    """Load an image like mmcv's ``LoadImageFromFile``, but skip it if it cannot be read.

    A missing, empty or corrupt file, or one of more than `max_pixels` pixels (read from its
    header, before decoding), makes the transform log a warning that names the file and
    the reason, count it in `num_skipped` and return None; mmengine's ``BaseDataset`` then
    draws another index (see ``UnlabeledImageFolder``'s ``max_refetch``).

    A truncated JPEG that OpenCV still decodes (with a grey bottom) is not detected: it is a
    valid, if damaged, image to the decoder.

    Required keys: img_path. Added keys: img, img_shape, ori_shape.

    Args:
        to_float32: convert the image to float32 instead of keeping uint8.
        color_type: `flag` of :func:`mmcv.imfrombytes` ('color', 'grayscale', 'unchanged').
        imdecode_backend: `backend` of :func:`mmcv.imfrombytes` ('cv2', 'pillow', ...).
        backend_args: arguments of the mmengine file backend, for images that are not local.
        max_pixels: the most pixels an image may have (the config's `max_image_pixels`).

    Attributes:
        num_skipped: how many images this object has skipped. Each dataloader worker process
            has its own copy of the pipeline, hence its own count.
    """

    def __init__(self, to_float32: bool = False, color_type: str = 'color',
                 imdecode_backend: str = 'cv2', backend_args: Optional[dict] = None,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
        self.to_float32 = to_float32
        self.color_type = color_type
        self.imdecode_backend = imdecode_backend
        self.backend_args = None if backend_args is None else backend_args.copy()
        self.max_pixels = max_pixels
        self.num_skipped = 0

    def _read(self, filename: str) -> Tuple[Optional[np.ndarray], str]:
        """The decoded image, or None and why it could not be read."""
        try:
            img_bytes = fileio.get(filename, backend_args=self.backend_args)
            if not img_bytes:
                return None, 'the file is empty'
            size = header_size(io.BytesIO(img_bytes))
            too_large = size and pixel_limit_problem(size, self.max_pixels)
            if too_large:
                return None, too_large
            img = mmcv.imfrombytes(img_bytes, flag=self.color_type,
                                   backend=self.imdecode_backend)
        except Exception as err:  # any failure to read one file is a skip, never a crash
            return None, f'{type(err).__name__}: ' + ' '.join(str(err).split())
        return img, 'the decoder returned no image (corrupt or not an image)'

    def transform(self, results: dict) -> Optional[dict]:
        """Add the decoded image to `results`, or return None if it cannot be read."""
        filename = results['img_path']
        img, reason = self._read(filename)
        if img is None:
            self.num_skipped += 1
            MMLogger.get_current_instance().warning(
                f'Skipping unreadable image {filename}: {reason} '
                f'({self.num_skipped} skipped so far in this process)')
            return None
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(to_float32={self.to_float32}, '
                f"color_type='{self.color_type}', imdecode_backend='{self.imdecode_backend}', "
                f'backend_args={self.backend_args}, max_pixels={self.max_pixels})')


@TRANSFORMS.register_module()
class RandomResizedCrop(BaseTransform):
    """Crop a random area and aspect ratio of the image and resize it to `size`.

    The Inception crop, with torchvision's sampling (which DINOv2 uses): up to 10 tries draw
    an area fraction uniformly from `scale` and an aspect ratio (w / h) log-uniformly from
    `ratio`; if no such crop fits inside the image, the largest centred crop with a ratio in
    `ratio` is taken. Randomness comes from numpy's global RNG, which mmengine seeds.

    Only ``results['img']`` is cropped: this is for unlabeled images.

    Required keys: img. Modified keys: img, img_shape.

    Args:
        size: output size, an int for a square or (h, w) as in torchvision.
        scale: range of the crop's area as a fraction of the image's area.
        ratio: range of the crop's aspect ratio w / h.
        interpolation: `interpolation` of :func:`mmcv.imresize`; DINOv2 uses 'bicubic'.
        backend: `backend` of :func:`mmcv.imresize`. 'cv2' is fast; 'pillow' antialiases when
            shrinking, as torchvision does on PIL images, but needs uint8 images.
    """

    def __init__(self, size: Union[int, Sequence[int]],
                 scale: Sequence[float] = (0.08, 1.0),
                 ratio: Sequence[float] = (3 / 4, 4 / 3),
                 interpolation: str = 'bicubic', backend: str = 'cv2') -> None:
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        if len(self.size) != 2:
            raise ValueError(f'size must be an int or (h, w), got {size}')
        if not (0 < scale[0] <= scale[1] and 0 < ratio[0] <= ratio[1]):
            raise ValueError(f'scale and ratio must be positive (min, max) ranges, got '
                             f'scale={scale}, ratio={ratio}')
        self.scale = tuple(scale)
        self.ratio = tuple(ratio)
        self.interpolation = interpolation
        self.backend = backend

    def crop_box(self, height: int, width: int) -> tuple:
        """Sample the crop (top, left, h, w) for an image of `height` x `width`."""
        area = height * width
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target_area = area * np.random.uniform(*self.scale)
            aspect = math.exp(np.random.uniform(*log_ratio))
            w = int(round(math.sqrt(target_area * aspect)))
            h = int(round(math.sqrt(target_area / aspect)))
            if 0 < w <= width and 0 < h <= height:
                top = np.random.randint(0, height - h + 1)
                return top, np.random.randint(0, width - w + 1), h, w
        in_ratio = width / height
        if in_ratio < self.ratio[0]:
            w, h = width, int(round(width / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            w, h = int(round(height * self.ratio[1])), height
        else:
            w, h = width, height
        return (height - h) // 2, (width - w) // 2, h, w

    def transform(self, results: dict) -> dict:
        """Replace ``results['img']`` by a random resized crop of it."""
        img = results['img']
        top, left, h, w = self.crop_box(*img.shape[:2])
        img = mmcv.imresize(img[top:top + h, left:left + w], self.size[::-1],
                            interpolation=self.interpolation, backend=self.backend)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(size={self.size}, scale={self.scale}, '
                f"ratio={self.ratio}, interpolation='{self.interpolation}', "
                f"backend='{self.backend}')")
