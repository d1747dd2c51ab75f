"""Training machinery of stage 3 (segmentation fine-tuning)."""
from .layer_decay_optim import ViTLayerDecayOptimizerConstructor

__all__ = ['ViTLayerDecayOptimizerConstructor']
