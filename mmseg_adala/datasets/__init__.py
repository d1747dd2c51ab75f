"""Datasets and transforms; importing registers UnlabeledImageFolder and its transforms in mmseg."""
from .image_folder import IMG_EXTENSIONS, UnlabeledImageFolder
from .transforms import LoadImageOrSkip, RandomResizedCrop

__all__ = ['IMG_EXTENSIONS', 'UnlabeledImageFolder', 'LoadImageOrSkip', 'RandomResizedCrop']
