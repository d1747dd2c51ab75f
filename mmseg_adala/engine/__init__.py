"""Training machinery shared by the stages: parameter groups, the effective-batch log."""
from .effective_batch_hook import EffectiveBatchHook
from .layer_decay_optim import ViTLayerDecayOptimizerConstructor

__all__ = ['EffectiveBatchHook', 'ViTLayerDecayOptimizerConstructor']
