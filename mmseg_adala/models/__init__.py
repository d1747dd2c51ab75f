from .attention import AdaLAAttention, LocalConcentration
from .backbones import AdaLAViT

__all__ = ['AdaLAAttention', 'AdaLAViT', 'LocalConcentration']
