"""Training machinery shared by the stages: parameter groups, the effective-batch log, and what
makes runs of every stage safe to kill and resume."""
from .atomic_file import AtomicLocalBackend, atomic_write
from .checkpoint_fit import CheckpointFitHook, CheckpointMismatchError, load_segmentor_checkpoint
from .effective_batch_hook import EffectiveBatchHook
from .layer_decay_optim import ViTLayerDecayOptimizerConstructor
from .random_state_hook import RandomStateHook

__all__ = ['AtomicLocalBackend', 'CheckpointFitHook', 'CheckpointMismatchError', 'EffectiveBatchHook',
           'RandomStateHook', 'ViTLayerDecayOptimizerConstructor', 'atomic_write', 'load_segmentor_checkpoint']
