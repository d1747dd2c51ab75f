"""Checks that stop a bad sample where it is read, with its file named, instead of a wrong score.

A label map holding ids the model has no class for trains into `IndexError: Target 199 is out
of bounds` and evaluates without a word (the metric drops those pixels: mIoU 8.98 instead of
11.08 on the tiny set); a label map of another size than its image fails in the metric or in
the collate function, naming no file; a huge image is decoded whole before anything looks at
it. `load_run_config` puts these transforms into every pipeline that loads such data, and
`check_dataset` runs them over a whole dataset in one pass (`--check-data`).
"""
import copy
from typing import List, Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.utils import ProgressBar
from mmseg.datasets.transforms import LoadAnnotations
from mmseg.registry import TRANSFORMS

from .image_size import DEFAULT_MAX_PIXELS, ImageSizeError, check_fits_model, check_pixel_limit, header_size


# How many bad samples a `--check-data` report lists (it counts them all).
LISTED_PROBLEMS = 20


class LabelMapError(ValueError):
    """A label map with ids outside the classes, or of another size than its image: the message names the file."""


class DataCheckError(ValueError):
    """`--check-data` found bad samples: the message lists them."""


def _shape(array: np.ndarray) -> str:
    return f'{array.shape[1]}x{array.shape[0]} px' + (f' with {array.shape[2]} channels' if array.ndim == 3 else '')


@TRANSFORMS.register_module()
class CheckImageSize(BaseTransform):
    """Refuses an image above `max_pixels`, from its header, before the next transform decodes it;
    and one whose shape a keep-ratio resize to `fit_scale` would bring below 1 px (OpenCV's raw
    `inv_scale_x > 0` assertion otherwise).

    Required keys: img_path. A file PIL cannot identify passes: the decoder names its problem.

    Args:
        max_pixels: The most pixels an image may have (the config's `max_image_pixels`).
        fit_scale: The smallest scale (W, H) a keep-ratio resize of the pipeline may take, or None.
    """

    def __init__(self, max_pixels: int = DEFAULT_MAX_PIXELS, fit_scale: Optional[Sequence[int]] = None) -> None:
        self.max_pixels = max_pixels
        self.fit_scale = None if fit_scale is None else tuple(fit_scale)

    def check(self, path: str, size) -> None:
        check_pixel_limit(path, size, self.max_pixels)
        if self.fit_scale is not None:
            check_fits_model(path, size, self.fit_scale, 1, "the pipeline's smallest resize scale")

    def transform(self, results: dict) -> dict:
        size = header_size(results['img_path'])
        if size is not None:
            self.check(results['img_path'], size)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(max_pixels={self.max_pixels}, fit_scale={self.fit_scale})'


@TRANSFORMS.register_module()
class CheckLabelMap(BaseTransform):
    """Refuses a label map (after `LoadAnnotations`) whose size is not its image's, or that holds
    ids outside [0, num_classes) other than `ignore_index`.

    Required keys: gt_seg_map, seg_map_path, ori_shape (the image's size, as loaded), img_path.

    Args:
        num_classes: The model's classes (`model.decode_head.num_classes`).
        ignore_index: The id that marks unlabelled pixels (255; ADE20K's 0 becomes it).
    """

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def transform(self, results: dict) -> dict:
        labels, path = results['gt_seg_map'], results['seg_map_path']
        height, width = results['ori_shape'][:2]
        if labels.shape != (height, width):
            raise LabelMapError(
                f'label map {path} is {_shape(labels)}, but its image {results["img_path"]} is {width}x{height} px: '
                'a label map is a one-channel image of class ids of its image\'s size (a label of another image, '
                'or one resized or saved in colour?)')
        outside = (labels >= self.num_classes) & (labels != self.ignore_index)
        if outside.any():
            ids, counts = np.unique(labels[outside], return_counts=True)
            found = ', '.join(f'{i} ({n} px)' for i, n in zip(ids.tolist(), counts.tolist()))
            in_file = (f'; in the file these are {", ".join(str(i + 1) for i in ids.tolist())}, as reduce_zero_label '
                       'maps a file\'s value v to class v - 1 and 0 to the ignore index'
                       if results.get('reduce_zero_label') else '')
            raise LabelMapError(
                f'label map {path} holds class ids outside [0, {self.num_classes}) other than the ignore index '
                f'{self.ignore_index}: {found}{in_file}. The model has {self.num_classes} classes '
                '(model.decode_head.num_classes): fix the label map, or give the model and the dataset\'s classes '
                'the number the labels use')
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(num_classes={self.num_classes}, ignore_index={self.ignore_index})'


def _first(transforms, kind):
    return next((t for t in transforms if isinstance(t, kind)), None)


def check_dataset(dataset, show_progress: bool = True) -> List[str]:
    """The problems of every sample of `dataset`, through its pipeline's checks, in one pass.

    Reads each image's header (pixels are not decoded) and each label map, as the pipeline
    would, and returns one message per bad sample (empty: all good). Checks the pipeline does
    not hold are not run; an image PIL cannot identify is reported as such.
    """
    transforms = dataset.pipeline.transforms
    image_check, load_labels, label_check = (_first(transforms, kind) for kind in
                                             (CheckImageSize, LoadAnnotations, CheckLabelMap))
    problems = []
    bar = ProgressBar(len(dataset)) if show_progress else None
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        try:
            size = header_size(info['img_path'])
            if size is None:
                raise ImageSizeError(f'{info["img_path"]}: not an image file that can be read (empty, damaged or '
                                     'of an unknown format)')
            if image_check is not None:
                image_check.check(info['img_path'], size)
            if load_labels is not None and label_check is not None and info.get('seg_map_path'):
                results = load_labels(copy.deepcopy(info))
                label_check(dict(results, ori_shape=size[::-1]))
        except (ImageSizeError, LabelMapError, FileNotFoundError) as error:
            problems.append(str(error))
        if bar is not None:
            bar.update()
    return problems


def assert_dataset_is_sound(dataset, name: str) -> None:
    """Raise `DataCheckError` listing the bad samples of `dataset` (`check_dataset`), if there are any.

    Args:
        dataset: The built dataset.
        name: What it is, for the message (e.g. 'the test set').
    """
    problems = check_dataset(dataset)
    if problems:
        listed = '\n'.join(f'  {problem}' for problem in problems[:LISTED_PROBLEMS])
        more = f'\n  ... and {len(problems) - LISTED_PROBLEMS} more' if len(problems) > LISTED_PROBLEMS else ''
        raise DataCheckError(f'--check-data: {len(problems)} of the {len(dataset)} samples of {name} are bad:\n'
                             f'{listed}{more}')
