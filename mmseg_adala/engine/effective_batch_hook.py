"""Log the images per optimizer step that a run really trains with."""
from mmengine.hooks import Hook
from mmseg.registry import HOOKS


@HOOKS.register_module()
class EffectiveBatchHook(Hook):
    """Log processes x images per process x accumulated iterations at the start of training.

    A recipe's learning rate is tuned for one batch size, and the configs state theirs for 8
    GPUs: this line shows at once whether a launch on another number of GPUs or another
    `batch_size` changed it. With `optim_wrapper.accumulative_counts` > 1 one optimizer step
    takes that many iterations, and mmengine counts iterations (`max_iters`, schedulers,
    checkpoints) in those smaller steps.
    """

    priority = 'VERY_LOW'

    def before_train(self, runner) -> None:
        batch_size = runner.train_dataloader.batch_size
        accumulative_counts = runner.cfg.get('optim_wrapper', {}).get('accumulative_counts', 1)
        runner.logger.info(
            f'Effective batch: {runner.world_size} processes x {batch_size} images x '
            f'{accumulative_counts} accumulated iterations = '
            f'{runner.world_size * batch_size * accumulative_counts} images per optimizer step')
