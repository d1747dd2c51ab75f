"""Inference from Python: the segmentor's label maps for images, and the image files around it."""
from .image_files import (ImageInputError, UnreadableImageError, check_no_input_is_overwritten, check_writable,
                          colour_table, find_images, read_image, save_outputs)
from .inferencer import AdaLAInferencer

__all__ = ['AdaLAInferencer', 'ImageInputError', 'UnreadableImageError', 'check_no_input_is_overwritten',
           'check_writable', 'colour_table', 'find_images', 'read_image', 'save_outputs']
