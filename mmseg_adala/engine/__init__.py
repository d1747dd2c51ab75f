"""Training machinery shared by the stages: parameter groups, the effective-batch log, and what
makes runs of every stage safe to kill and resume, and stop rather than go on wrong."""
from . import torch_load_allowlist  # noqa: F401  (makes mmengine's checkpoint resume work on torch>=2.6)
from .atomic_file import AtomicLocalBackend, atomic_write
from .checkpoint_fit import CheckpointFitHook, CheckpointMismatchError, load_segmentor_checkpoint
from .effective_batch_hook import EffectiveBatchHook
from .layer_decay_optim import ViTLayerDecayOptimizerConstructor
from .non_finite_hook import NonFiniteCheckHook, NonFiniteTrainingError
from .random_state_hook import RandomStateHook
from .work_dir_lock import WorkDirLock, WorkDirLockedError

__all__ = ['AtomicLocalBackend', 'CheckpointFitHook', 'CheckpointMismatchError', 'EffectiveBatchHook',
           'NonFiniteCheckHook', 'NonFiniteTrainingError', 'RandomStateHook', 'ViTLayerDecayOptimizerConstructor',
           'WorkDirLock', 'WorkDirLockedError', 'atomic_write', 'load_segmentor_checkpoint']
