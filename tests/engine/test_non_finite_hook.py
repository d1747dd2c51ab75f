"""NonFiniteCheckHook: a run that diverges stops at its first NaN loss or gradient, in each stage,
naming the iteration and the loss, and writes no checkpoint or backbone export after it."""
import os
import os.path as osp
import re

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmseg.registry import HOOKS
from tiny import TINY_CONFIGS, synthetic_data_options

from mmseg_adala import train as train_tool
from mmseg_adala.datasets.synthetic_ade20k import make_synthetic_ade20k
from mmseg_adala.engine.non_finite_hook import NonFiniteTrainingError
from mmseg_adala.engine.run_config import load_run_config

STAGE1 = osp.join(TINY_CONFIGS, 'adala_stage1_tiny.py')
STAGE2 = osp.join(TINY_CONFIGS, 'adala_stage2_tiny.py')
STAGE3 = osp.join(TINY_CONFIGS, 'adala_upernet_synthetic_tiny.py')


@HOOKS.register_module()
class BreakIterationHook(Hook):
    """Makes iteration `at` (1-based, as logged) non-finite: its first trained weight NaN (`'loss'`),
    or that weight's gradient NaN (`'gradient'`); keeps the weights as they were before it."""

    def __init__(self, at: int, where: str) -> None:
        self.at, self.where = at, where
        self.before = None

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if runner.iter + 1 != self.at:
            return
        model = runner.model
        self.before = {k: v.clone() for k, v in model.state_dict().items()}
        param = next(p for p in model.parameters() if p.requires_grad)
        if self.where == 'loss':
            with torch.no_grad():
                param.fill_(float('nan'))
        else:
            handle = param.register_hook(lambda grad: (handle.remove(), grad * float('nan'))[1])


def alignment_options(teacher_checkpoint, image_folders):
    train, val = image_folders
    return {'model.teacher.init_cfg.checkpoint': teacher_checkpoint, 'train_dataloader.dataset.data_root': train,
            'val_dataloader.dataset.data_root': val, 'train_cfg.max_iters': 4, 'train_cfg.val_interval': 2,
            'default_hooks.checkpoint.interval': 2}


def train_broken(config, work_dir, options, at, where):
    cfg = load_run_config(config, work_dir=str(work_dir), cfg_options=options)
    breaker = BreakIterationHook(at, where)
    runner = Runner.from_cfg(cfg)
    runner.register_hook(breaker)
    with pytest.raises(NonFiniteTrainingError) as stopped:
        runner.train()
    return str(stopped.value), runner, breaker


@pytest.mark.parametrize('interval, stop', [
    (100, r'iteration \d+: non-finite loss decode\.loss_ce=nan, aux\.loss_ce=nan \(all logged: .*\), before its '
          r'backward'),
    # BatchNorm's running variance overflows while the loss, on batch statistics, stays finite.
    (2, r'iteration 2: \d+ tensors hold NaN or inf \(e\.g\. state_dict\.decode_head\.\S+\.bn\.running_var, .*\), '
        r'though no loss or gradient did: not writing the checkpoint'),
])
@pytest.mark.slow
def test_stage3_at_lr_1e6_stops_at_its_first_non_finite_number(interval, stop, tmp_path):
    """Stage 3 at lr 1e6 turns NaN within a few iterations: the run stops there and no checkpoint holds NaN."""
    data = str(tmp_path / 'data')
    make_synthetic_ade20k(data, num_train=8, num_val=2, image_size=128, num_classes=3)
    work_dir = tmp_path / 'work'
    with pytest.raises(SystemExit) as stopped:
        train_tool.main([STAGE3, '--work-dir', str(work_dir), '--cfg-options', *synthetic_data_options(data),
                         'optim_wrapper.optimizer.lr=1e6', 'train_cfg.max_iters=10', f'train_cfg.val_interval={interval}',
                         f'default_hooks.checkpoint.interval={interval}', 'randomness.seed=0'])
    message = str(stopped.value.code)
    assert re.search(stop, message) and 'Lower the learning rate (optim_wrapper.optimizer.lr)' in message, message
    assert not [name for name in os.listdir(work_dir) if name.endswith('.pth')]


def test_stage1_nan_loss_stops_before_the_checkpoint_and_export(tmp_path, teacher_checkpoint, image_folders):
    message, runner, _ = train_broken(STAGE1, tmp_path, alignment_options(teacher_checkpoint, image_folders),
                                      at=3, where='loss')
    assert message.startswith('iteration 3: non-finite loss loss=nan (all logged: mse_block00=nan, mse_block01=')
    assert sorted(name for name in os.listdir(tmp_path) if name.endswith('.pth')) == [
        'backbone_iter_2.pth', 'iter_2.pth']  # none at iteration 4, no backbone_final.pth


def test_stage2_nan_gradient_stops_before_the_optimizer_step(tmp_path, teacher_checkpoint, image_folders):
    options = dict(alignment_options(teacher_checkpoint, image_folders), **{'model.student.init_cfg': None})
    message, runner, breaker = train_broken(STAGE2, tmp_path, options, at=2, where='gradient')
    assert message.startswith('iteration 2: non-finite gradients in ')
    assert ' NaN, 0 inf)' in message and 'the losses were finite (loss=' in message
    for key, value in runner.model.state_dict().items():  # the step never ran: not one weight moved
        torch.testing.assert_close(value, breaker.before[key], rtol=0, atol=0, msg=key)
    assert not [name for name in os.listdir(tmp_path) if name.endswith('.pth')]


@pytest.mark.parametrize('config', [STAGE1, STAGE2, STAGE3])
def test_every_stage_is_guarded(config):
    assert dict(type='NonFiniteCheckHook') in load_run_config(config).custom_hooks
