from .adala_vit import AdaLAViT, InputTooSmallError, NonFiniteInputError
from .local_concentration_block import LocalConcentration, LocalConcentrationBlock
from .vit_archs import ARCHS, ViTArch, resolve_arch, with_backbone_normalisation
from .vit_checkpoint import load_vit_checkpoint, read_vit_state_dict, timm_to_official_dinov2

__all__ = ['AdaLAViT', 'ARCHS', 'InputTooSmallError', 'LocalConcentration', 'LocalConcentrationBlock',
           'NonFiniteInputError', 'ViTArch', 'load_vit_checkpoint', 'read_vit_state_dict', 'resolve_arch',
           'timm_to_official_dinov2', 'with_backbone_normalisation']
