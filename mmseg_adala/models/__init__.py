from .attention import AdaLAAttention, LocalConcentration
from .backbones import AdaLAViT
from .decode_heads import BNHead
from .segmentors import AdaLAEncoderDecoder

__all__ = ['AdaLAAttention', 'AdaLAEncoderDecoder', 'AdaLAViT', 'BNHead', 'LocalConcentration']
