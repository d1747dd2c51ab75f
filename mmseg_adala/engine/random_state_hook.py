"""Random generator states in every checkpoint, so that a resumed run draws what the first would have."""
import random
from typing import Optional, Tuple

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.runner import IterBasedTrainLoop
from mmseg.registry import HOOKS


def capture_random_state() -> dict:
    """The states of python's `random`, numpy's global generator, torch's CPU and current CUDA ones."""
    state = dict(python=random.getstate(), numpy=np.random.get_state(), torch=torch.get_rng_state())
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state()
    return state


def restore_random_state(state: dict, main_process_data: bool = True) -> None:
    """Set the generators to `state` (from `capture_random_state`).

    The generators take CPU byte tensors, and mmengine loads a checkpoint to resume with
    map_location='cuda' on a GPU, which moves these tensors to the GPU too: back they come.

    Args:
        state: The saved states.
        main_process_data: Also restore python's and numpy's generators. False where they are
            the data pipeline's (see `RandomStateHook`) and mmengine has replayed them already.
    """
    torch.set_rng_state(state['torch'].cpu())
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state['cuda'].cpu())
    if main_process_data:
        random.setstate(state['python'])
        np.random.set_state(state['numpy'])


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Saves the random state with each checkpoint and restores it when training resumes.

    mmengine reseeds on resume, so without this the dropout and drop-path masks after a
    resume differ from those of an uninterrupted run. Two details make the resumed run
    draw exactly the same numbers:

    - Validation runs between a checkpoint and the next iteration (at the same interval in
      our configs) and draws from torch's generator (each DataLoader iterator takes a seed).
      The hook puts the generators back after validation, so training's draws do not
      depend on when, or whether, it validated.
    - An iteration-based loop skips the trained batches on resume by loading them again.
      With `num_workers=0` the pipeline's random crops and flips draw from the main
      process's python/numpy generators, so that replay already brings them to the saved
      state, and restoring them as well would rewind them by one batch; only torch's and
      CUDA's are restored then. With workers, the workers replay their own generators and
      all four are restored.

    The states are restored at the first `before_train_epoch` of a run whose iteration is
    the checkpoint's (a resume): loading a checkpoint's weights into a new run (`load_from`)
    or for testing leaves the generators alone. Only rank 0 saves checkpoints, so its states
    are the ones stored; the ranks share one stream unless `randomness.diff_rank_seed=True`,
    in which case the other ranks cannot be restored and a warning says so.
    """

    def __init__(self) -> None:
        self._loaded: Optional[Tuple[int, Optional[dict]]] = None  # (iteration, random state)
        self._outside_val: Optional[dict] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['random_state'] = capture_random_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._loaded = checkpoint.get('meta', {}).get('iter'), checkpoint.get('random_state')

    def before_train_epoch(self, runner) -> None:
        loaded, self._loaded = self._loaded, None
        if loaded is None or loaded[0] != runner.iter or runner.iter == 0:
            return
        state = loaded[1]
        if state is None:
            runner.logger.warning('the checkpoint holds no random state (saved without RandomStateHook): '
                                  'dropout and data augmentation continue from a reseeded generator')
            return
        if runner.world_size > 1 and runner.cfg.get('randomness', {}).get('diff_rank_seed'):
            runner.logger.warning('randomness.diff_rank_seed=True: only rank 0\'s random state is in the '
                                  'checkpoint; the other ranks continue from reseeded generators')
            if runner.rank != 0:
                return
        replayed = isinstance(runner.train_loop, IterBasedTrainLoop) and runner.train_dataloader.num_workers == 0
        restore_random_state(state, main_process_data=not replayed)
        restored = 'torch' + (', cuda' if 'cuda' in state else '')
        runner.logger.info(f'restored the random state of iteration {runner.iter} ({restored}'
                           + ('' if replayed else ', numpy, python') + ')')

    def before_val(self, runner) -> None:
        self._outside_val = capture_random_state()

    def after_val(self, runner) -> None:
        restore_random_state(self._outside_val)
