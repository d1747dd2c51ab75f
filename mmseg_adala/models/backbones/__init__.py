from .adala_vit import DINOV2_ARCHS, AdaLAViT, InputTooSmallError, NonFiniteInputError
from .vit_checkpoint import load_vit_checkpoint, read_vit_state_dict, timm_to_official_dinov2

__all__ = ['AdaLAViT', 'DINOV2_ARCHS', 'InputTooSmallError', 'NonFiniteInputError', 'load_vit_checkpoint',
           'read_vit_state_dict', 'timm_to_official_dinov2']
