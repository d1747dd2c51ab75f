"""Lets mmengine 0.10.7 resume its own checkpoints on torch>=2.6, safely.

mmengine calls `torch.load` without `weights_only`; since torch 2.6 that means
`weights_only=True`, and resume fails on the non-tensor objects an mmengine checkpoint
holds: the message hub's `HistoryBuffer`s, the numpy arrays inside them, and their
statistics methods, which pickle as `getattr(HistoryBuffer, 'mean')`. Rather than switch
the safe unpickler off, we allow-list exactly those classes, and in place of `getattr` a
function that resolves HistoryBuffer's statistics methods and nothing else, so loading a
foreign weight file stays as safe as torch makes it.
"""
import pickle

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

# numpy moved its internals to numpy._core in 2.0; pickles name whichever the writer had.
_multiarray = (np._core if hasattr(np, '_core') else np.core).multiarray
_NUMPY_DTYPE_CLASSES = [type(np.dtype(name)) for name in (
    'bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64',
    'float16', 'float32', 'float64')]


def history_buffer_statistic(owner, name: str):
    """`getattr` restricted to `HistoryBuffer`'s registered statistics methods."""
    statistics = {'min', 'max', 'current', 'mean', *HistoryBuffer._statistics_methods}
    if owner is not HistoryBuffer or name not in statistics:
        raise pickle.UnpicklingError(f'checkpoint asks for getattr({owner!r}, {name!r}): only '
                                     'HistoryBuffer statistics are allowed')
    return getattr(HistoryBuffer, name)


MMENGINE_CHECKPOINT_GLOBALS = [
    HistoryBuffer, np.ndarray, np.dtype, _multiarray._reconstruct, _multiarray.scalar,
    *_NUMPY_DTYPE_CLASSES,
    # torch pickles with protocol 2, which names builtins `__builtin__`.
    (history_buffer_statistic, '__builtin__.getattr'),
    (history_buffer_statistic, 'builtins.getattr'),
]

torch.serialization.add_safe_globals(MMENGINE_CHECKPOINT_GLOBALS)
