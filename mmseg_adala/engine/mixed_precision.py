"""The precision a run trains in, set from the command line, and refused at once where it cannot run.

Every full-scale config trains with `AmpOptimWrapper(dtype='bfloat16')`, which mmengine builds
only where there is a CUDA (or NPU, MLU, MUSA) device: on a CPU-only machine its assertion
comes after the model and the data are built (28 s into a DINOv2-L run) and names no fix.
`--cfg-options optim_wrapper.type=OptimWrapper` is no fix either: the config's `dtype` and
`loss_scale` stay, and OptimWrapper takes neither (`--cfg-options` cannot delete a key).
`--no-amp` is the fix: the same optimizer, in float32.
"""
from typing import Optional

from mmengine.config import Config
from mmengine.device import is_cuda_available, is_mlu_available, is_musa_available, is_npu_available

AMP_DTYPES = ('bfloat16', 'float16')
# What AmpOptimWrapper takes beyond OptimWrapper's arguments.
AMP_ARGUMENTS = ('loss_scale', 'dtype', 'use_fsdp')


class PrecisionError(RuntimeError):
    """The config's precision needs a device this machine lacks: the message gives the flag that fixes it."""


def _is_amp(wrapper: dict) -> bool:
    kind = wrapper.get('type', 'OptimWrapper')
    return (kind if isinstance(kind, str) else kind.__name__).split('.')[-1] == 'AmpOptimWrapper'


def set_precision(cfg: Config, amp: bool = False, amp_dtype: Optional[str] = None, no_amp: bool = False) -> None:
    """Apply tools/train.py's precision flags to `cfg.optim_wrapper`.

    Args:
        cfg: The run's config.
        amp: `--amp`: mixed precision, `AmpOptimWrapper` with dynamic loss scaling, in
            `amp_dtype` (default bfloat16: the dtype the full-scale configs use, whose range is
            float32's; float16 needs the loss scaling to stay finite).
        amp_dtype: `--amp-dtype`: the autocast dtype, also over a config's own AmpOptimWrapper;
            implies `amp`.
        no_amp: `--no-amp`: a plain `OptimWrapper` in float32 whatever the config says (e.g. on
            a machine without CUDA); the optimizer, clipping and accumulation stay.
    """
    wrapper = cfg.optim_wrapper
    if no_amp:
        if _is_amp(wrapper):
            cfg.optim_wrapper = dict({k: v for k, v in wrapper.items() if k not in AMP_ARGUMENTS}, type='OptimWrapper')
        return
    if (amp or amp_dtype) and not _is_amp(wrapper):
        wrapper.type = 'AmpOptimWrapper'
        wrapper.setdefault('loss_scale', 'dynamic')
        wrapper.dtype = amp_dtype or 'bfloat16'
    elif amp_dtype:
        wrapper.dtype = amp_dtype


def require_amp_device(cfg: Config) -> None:
    """Raise `PrecisionError` now if `cfg` trains with AmpOptimWrapper and mmengine would refuse it later."""
    wrapper = cfg.get('optim_wrapper') or {}
    if not isinstance(wrapper, dict) or not _is_amp(wrapper):
        return
    if not (is_cuda_available() or is_npu_available() or is_mlu_available() or is_musa_available()):
        raise PrecisionError(
            f'this config trains with AmpOptimWrapper (mixed precision, dtype={wrapper.get("dtype")!r}), which '
            'mmengine runs on a CUDA, NPU, MLU or MUSA device only, and this machine has none: add --no-amp to '
            'train in float32 on the CPU')
