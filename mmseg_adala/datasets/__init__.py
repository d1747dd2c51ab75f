"""Datasets and transforms; importing registers UnlabeledImageFolder and its transforms in mmseg."""
from .image_folder import IMG_EXTENSIONS, UnlabeledImageFolder
from .image_size import DEFAULT_MAX_PIXELS, ImageSizeError
from .sample_checks import CheckImageSize, CheckLabelMap, LabelMapError, check_dataset
from .transforms import LoadImageOrSkip, RandomResizedCrop

__all__ = ['DEFAULT_MAX_PIXELS', 'IMG_EXTENSIONS', 'CheckImageSize', 'CheckLabelMap', 'ImageSizeError', 'LabelMapError',
           'LoadImageOrSkip', 'RandomResizedCrop', 'UnlabeledImageFolder', 'check_dataset']
