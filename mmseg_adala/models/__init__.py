# The backbones first: attention.py takes its local concentration module from their block module.
from .backbones import AdaLAViT, LocalConcentration
from .attention import AdaLAAttention
from .decode_heads import BNHead
from .segmentors import AdaLAEncoderDecoder, AdaLAMask2Former

__all__ = ['AdaLAAttention', 'AdaLAEncoderDecoder', 'AdaLAMask2Former', 'AdaLAViT', 'BNHead', 'LocalConcentration']
