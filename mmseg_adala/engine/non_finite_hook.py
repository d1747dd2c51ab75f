"""A run stops at its first non-finite loss or gradient, before the weights or a checkpoint see it.

mmengine trains on through NaN: it logs `loss: nan`, applies the NaN gradients, saves the
ruined weights at the next checkpoint and exits 0, and `--resume` would continue from that
file. `NonFiniteCheckHook` looks at the two places where NaN or inf enter training, each
before anything is changed:

- the losses of every training forward (a forward hook on the model: before the backward);
- the gradients an optimizer step is about to apply (a step pre-hook on the optimizer: after
  accumulation and clipping). Under fp16 loss scaling GradScaler skips a step with inf
  gradients by itself and never calls the optimizer, so loss-scaling overflows pass.

Weights and buffers can still overflow from finite numbers (BatchNorm's running variance at a
huge learning rate, while training's batch statistics keep the loss finite), so every
checkpoint and the final backbone export are checked before they are written too. Each
check raises `NonFiniteTrainingError`, which ends `runner.train()`: no checkpoint or export
after it is written (those of a broken iteration come after its step, or are the checked ones).
"""
import math
from typing import Dict, List

import torch
from mmengine.dist import all_reduce, get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.optim import OptimWrapperDict
from mmseg.registry import HOOKS

from .model_wrappers import bare_model
from .resume import non_finite_tensors

ADVICE = ('Lower the learning rate (optim_wrapper.optimizer.lr) or clip gradients (optim_wrapper.clip_grad), '
          'check the inputs, then continue from the last checkpoint with --resume: no checkpoint after the '
          'last good one was written')


class NonFiniteTrainingError(FloatingPointError):
    """A loss or gradient is NaN or inf: the message names the iteration and which ones."""


def _logged_values(losses: dict) -> Dict[str, torch.Tensor]:
    """The model's outputs of a training forward as mmengine logs them: each tensor (or list of them) by its mean."""
    values = {}
    for name, value in losses.items():
        tensors = value if isinstance(value, (list, tuple)) else [value]
        for i, tensor in enumerate(tensors):
            if isinstance(tensor, torch.Tensor):
                values[name if len(tensors) == 1 else f'{name}[{i}]'] = tensor.detach().float().mean()
    return values


def _optimizers(optim_wrapper) -> List[torch.optim.Optimizer]:
    wrappers = optim_wrapper.values() if isinstance(optim_wrapper, OptimWrapperDict) else [optim_wrapper]
    return [wrapper.optimizer for wrapper in wrappers]


@HOOKS.register_module()
class NonFiniteCheckHook(Hook):
    """Raises `NonFiniteTrainingError` at the first NaN or inf loss or gradient of a training run.

    Added to every config by `load_run_config`, so it guards stages 1, 2 and 3 alike. One
    more device-to-host read per iteration and per optimizer step, and a pass over the
    weights per checkpoint; with several processes the loss check is agreed over all of them
    (one all-reduce of one number per process), so that every process stops, not only the one
    whose loss broke.
    """

    priority = 'VERY_HIGH'  # its checks of a checkpoint and of the final model come before they are written

    def __init__(self) -> None:
        self._handles = []
        self._losses: Dict[str, float] = {}

    def before_train(self, runner) -> None:
        model = bare_model(runner.model)
        names = {param: name for name, param in model.named_parameters()}
        self._handles = [model.register_forward_hook(
            lambda module, args, kwargs, output: self._check_losses(runner, module, kwargs, output), with_kwargs=True)]
        self._handles += [optimizer.register_step_pre_hook(
            lambda optimizer, args, kwargs: self._check_gradients(runner, optimizer, names))
            for optimizer in _optimizers(runner.optim_wrapper)]

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        self._check_saved(checkpoint['meta'].get('iter', runner.iter), checkpoint, 'the checkpoint')

    def after_train(self, runner) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        model = bare_model(runner.model)
        self._check_saved(runner.iter, dict(state_dict=model.state_dict()), 'the final model (and its export)')

    @staticmethod
    def _check_saved(iteration: int, checkpoint: dict, what: str) -> None:
        broken = non_finite_tensors(checkpoint)
        if broken:
            raise NonFiniteTrainingError(
                f'iteration {iteration}: {len(broken)} tensors hold NaN or inf (e.g. {", ".join(broken[:4])}), '
                f'though no loss or gradient did: not writing {what}. {ADVICE}')

    def _check_losses(self, runner, module, kwargs: dict, output) -> None:
        if not (module.training and kwargs.get('mode') == 'loss' and isinstance(output, dict)):
            return
        logged = _logged_values(output)
        if not logged:
            return
        values = torch.stack(list(logged.values()))
        self._losses = dict(zip(logged, values.tolist()))  # one device-to-host copy per iteration
        # What mmengine sums into the loss: the keys holding 'loss' (others, e.g. accuracies, are only logged).
        broken = any('loss' in name and not math.isfinite(value) for name, value in self._losses.items())
        world_size = get_world_size()
        if world_size > 1:
            per_process = torch.zeros(world_size, device=values.device)
            per_process[get_rank()] = float(broken)
            all_reduce(per_process)
            broken_processes = per_process.nonzero().flatten().tolist()
        else:
            broken_processes = [0] if broken else []
        if not broken_processes:
            return
        where = f'iteration {runner.iter + 1}'
        if get_rank() not in broken_processes:
            raise NonFiniteTrainingError(f'{where}: the loss of process(es) {broken_processes} is not finite; '
                                         f'stopping all processes. {ADVICE}')
        bad = ', '.join(f'{name}={value}' for name, value in self._losses.items()
                        if 'loss' in name and not math.isfinite(value))
        raise NonFiniteTrainingError(f'{where}: non-finite loss {bad} (all logged: {self._format_losses()}), before '
                                     f'its backward. {ADVICE}')

    def _check_gradients(self, runner, optimizer: torch.optim.Optimizer, names: Dict) -> None:
        params = [p for group in optimizer.param_groups for p in group['params'] if p.grad is not None]
        if not params:
            return
        # A sum is non-finite exactly when a gradient is (or, harmlessly, when finite ones reach 3e38).
        sums = torch.stack([p.grad.sum(dtype=torch.float32) for p in params])
        if torch.isfinite(sums).all():
            return
        bad = [(names.get(p, '?'), int(p.grad.isnan().sum()), int(p.grad.isinf().sum()))
               for p, total in zip(params, sums.tolist()) if not math.isfinite(total)]
        listed = ', '.join(f'{name} ({nan} NaN, {inf} inf)' for name, nan, inf in bad[:5])
        # The step pre-hook sees the gradients after clipping, whose common factor is NaN for any NaN gradient.
        clipped = (' (after gradient clipping, which makes one non-finite gradient all of them)'
                   if getattr(runner.optim_wrapper, 'clip_grad_kwargs', None) else '')
        raise NonFiniteTrainingError(
            f'iteration {runner.iter + 1}: non-finite gradients in {len(bad)} of {len(params)} parameters{clipped}, '
            f'e.g. {listed}{" ..." if len(bad) > 5 else ""}, before the optimizer step; the losses were finite '
            f'({self._format_losses()}). {ADVICE}')

    def _format_losses(self) -> str:
        return ', '.join(f'{name}={value:.4g}' for name, value in self._losses.items()) or 'none logged'
