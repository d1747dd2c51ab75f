from .encoder_decoder import AdaLAEncoderDecoder
from .mask2former import AdaLAMask2Former

__all__ = ['AdaLAEncoderDecoder', 'AdaLAMask2Former']
