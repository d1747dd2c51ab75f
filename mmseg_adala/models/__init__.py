from .attention import AdaLAAttention, LocalConcentration
from .backbones import AdaLAViT
from .decode_heads import BNHead

__all__ = ['AdaLAAttention', 'AdaLAViT', 'BNHead', 'LocalConcentration']
