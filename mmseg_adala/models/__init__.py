from .attention import AdaLAAttention, LocalConcentration
from .backbones import AdaLAViT
from .decode_heads import BNHead
from .segmentors import AdaLAEncoderDecoder, AdaLAMask2Former

__all__ = ['AdaLAAttention', 'AdaLAEncoderDecoder', 'AdaLAMask2Former', 'AdaLAViT', 'BNHead', 'LocalConcentration']
