"""Which checkpoint a training run continues from, decided before anything in its work_dir is written.

mmengine resumes from the path in `work_dir/last_checkpoint`: when that file is missing it
silently starts over (overwriting the run's checkpoints and exports), when it is empty it
fails with an empty path, and it never falls back from a damaged checkpoint. Here the
checkpoints themselves are the record: the newest one that loads and holds only finite
numbers is resumed, and a run never starts from scratch on top of another run's files.
"""
import glob
import logging
import os.path as osp
import re
from typing import Dict, List, Optional

import torch
from mmengine.logging import print_log

from .checkpoint_file import CheckpointFileError, read_checkpoint

# The names mmengine's CheckpointHook gives checkpoints (its default `filename_tmpl`).
CHECKPOINT_NAME = re.compile(r'(iter|epoch)_(\d+)\.pth')


class ResumeError(RuntimeError):
    """The work_dir's state does not allow the requested start: the message says what to do."""


def saved_checkpoints(work_dir: str) -> List[str]:
    """The training checkpoints in `work_dir` (`iter_N.pth`, `epoch_N.pth`), newest first."""
    paths = [p for p in glob.glob(osp.join(work_dir, '*.pth')) if CHECKPOINT_NAME.fullmatch(osp.basename(p))]
    return sorted(paths, key=lambda p: int(CHECKPOINT_NAME.fullmatch(osp.basename(p)).group(2)), reverse=True)


def _tensors(tree, prefix: str = '') -> Dict[str, torch.Tensor]:
    """The tensors in nested dicts and lists, by their dotted path."""
    if isinstance(tree, torch.Tensor):
        return {prefix: tree}
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, (list, tuple)) else ()
    return {path: t for key, value in items for path, t in _tensors(value, f'{prefix}.{key}' if prefix else
                                                                         str(key)).items()}


def non_finite_tensors(checkpoint: dict) -> List[str]:
    """The weights, buffers and optimizer states of `checkpoint` that hold NaN or inf."""
    tensors = {**_tensors(checkpoint.get('state_dict', {}), 'state_dict'),
               **_tensors(checkpoint.get('optimizer', {}), 'optimizer')}
    return [name for name, tensor in tensors.items()
            if tensor.is_floating_point() and not torch.isfinite(tensor).all()]


def unloadable_reason(path: str) -> Optional[str]:
    """Why `path` is not a checkpoint training can resume from, or None if it is.

    The file is memory-mapped: a truncated file (a write that was cut short) fails at once,
    as would a foreign file; otherwise its tensors are read once, for NaN and inf (a run that
    diverged before `NonFiniteCheckHook` guarded it saved such checkpoints).
    """
    try:
        checkpoint = read_checkpoint(path, mmap=True)
    except CheckpointFileError as error:
        return f'it {error.problem}'
    if not {'meta', 'state_dict'} <= checkpoint.keys():
        return 'it is not a training checkpoint (no meta and state_dict)'
    broken = non_finite_tensors(checkpoint)
    if broken:
        return (f'it holds NaN or inf in {len(broken)} tensors (e.g. {", ".join(broken[:3])}): the run had '
                'diverged when it was saved')
    return None


def resume_checkpoint(work_dir: str, requested: Optional[str] = None) -> Optional[str]:
    """The checkpoint to resume from: `requested`, or the newest loadable one in `work_dir`.

    Returns None when the work_dir holds no run (a new run starts). Raises `ResumeError` for
    a requested file that does not load, and when checkpoints or exports exist but no
    checkpoint loads (starting over would overwrite them). Skipped checkpoints are logged
    with the reason.
    """
    if requested is not None:
        reason = unloadable_reason(requested) if osp.isfile(requested) else 'it does not exist'
        if reason:
            raise ResumeError(f'cannot resume from {requested}: {reason}')
        return requested
    skipped = []
    for path in saved_checkpoints(work_dir):
        reason = unloadable_reason(path)
        if reason is None:
            for name, why in skipped:
                print_log(f'resume: skipped {name}: {why}', logger='current', level=logging.WARNING)
            print_log(f'resume: continuing from {path}, the newest checkpoint that loads', logger='current')
            return path
        skipped.append((osp.basename(path), reason))
    if skipped:
        raise ResumeError(f'{work_dir} holds checkpoints but none loads: '
                          + '; '.join(f'{name}: {why}' for name, why in skipped)
                          + '. Resume from another file with --resume PATH, or move them away to start over.')
    others = run_files(work_dir)
    if others:
        raise ResumeError(f'{work_dir} holds {_listing(others)} but no checkpoint to resume, and a new run would '
                          'overwrite them: give --resume PATH, or another --work-dir')
    print_log(f'resume: no checkpoint in {work_dir}, training from the start', logger='current')
    return None


def run_files(work_dir: str) -> List[str]:
    """The files of a run in `work_dir` that a new run would overwrite: checkpoints and exports."""
    return sorted(osp.basename(p) for p in glob.glob(osp.join(work_dir, '*.pth')))


def _listing(names: List[str]) -> str:
    return ', '.join(names[:4]) + (f' and {len(names) - 4} more' if len(names) > 4 else '')


def refuse_to_overwrite(work_dir: str) -> None:
    """Raise `ResumeError` if a new run would overwrite checkpoints or exports in `work_dir`."""
    existing = run_files(work_dir)
    if existing:
        raise ResumeError(f'{work_dir} already holds a run ({_listing(existing)}), which a new run would '
                          'overwrite: continue it with --resume, or give another --work-dir')
