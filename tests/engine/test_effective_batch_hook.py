"""EffectiveBatchHook's line: processes x images x accumulated iterations."""
from types import SimpleNamespace

from mmengine.config import Config

from mmseg_adala.engine import EffectiveBatchHook


class Logger:
    def __init__(self):
        self.lines = []

    def info(self, line):
        self.lines.append(line)


def run_hook(world_size, batch_size, optim_wrapper):
    runner = SimpleNamespace(world_size=world_size, train_dataloader=SimpleNamespace(batch_size=batch_size),
                             cfg=Config(dict(optim_wrapper=optim_wrapper)), logger=Logger())
    EffectiveBatchHook().before_train(runner)
    return runner.logger.lines


def test_accumulated_iterations_multiply_the_batch():
    assert run_hook(8, 8, dict(type='OptimWrapper', accumulative_counts=4)) == [
        'Effective batch: 8 processes x 8 images x 4 accumulated iterations = 256 images per optimizer step']


def test_without_accumulation():
    line = run_hook(2, 3, dict(type='OptimWrapper'))[0]
    assert line.endswith('x 1 accumulated iterations = 6 images per optimizer step')
