"""`--resume CKPT` checks that the checkpoint fits the config, model and optimizer, before training:
before, another config's checkpoint gave pages of key warnings, then torch's `loaded state dict has a
different number of parameter groups`."""
import os
import os.path as osp
import re
import sys

import pytest
from tiny import TINY_CONFIGS, synthetic_data_options

from mmseg_adala import train as train_tool
from mmseg_adala.datasets.synthetic_ade20k import make_synthetic_ade20k

STAGE1 = osp.join(TINY_CONFIGS, 'adala_stage1_tiny.py')
STAGE3 = osp.join(TINY_CONFIGS, 'adala_upernet_synthetic_tiny.py')
ONE_ITERATION = ['train_dataloader.batch_size=2', 'train_cfg.max_iters=1', 'train_cfg.val_interval=1',
                 'default_hooks.checkpoint.interval=1']


@pytest.fixture(scope='module')
def data_options(tmp_path_factory):
    data = str(tmp_path_factory.mktemp('synthetic'))
    make_synthetic_ade20k(data, num_train=4, num_val=1, image_size=128, num_classes=3)
    return synthetic_data_options(data)


def refused_resume(config, checkpoint, work_dir, options):
    with pytest.raises(SystemExit) as refused:
        train_tool.main([config, '--work-dir', str(work_dir), '--resume', checkpoint, '--cfg-options', *options])
    return str(refused.value.code)


def test_resuming_another_stages_checkpoint_is_refused_with_the_cause(tmp_path, data_options, teacher_checkpoint,
                                                                      image_folders):
    train, val = image_folders
    stage1 = tmp_path / 'stage1'
    train_tool.main([STAGE1, '--work-dir', str(stage1), '--cfg-options',
                     f'model.teacher.init_cfg.checkpoint={teacher_checkpoint}', f'train_dataloader.dataset.data_root={train}',
                     f'val_dataloader.dataset.data_root={val}', *ONE_ITERATION[1:]])
    checkpoint = str(stage1 / 'iter_1.pth')
    message = refused_resume(STAGE3, checkpoint, tmp_path / 'work', [*data_options, *ONE_ITERATION])
    assert message.startswith(f'{osp.basename(sys.argv[0])}: {checkpoint} does not fit the config\'s '
                              'AdaLAEncoderDecoder:')
    assert re.search(r'missing \(left at random initialisation\): \d+ keys .*'
                     r'Likely cause: it is a stage-1/2 training checkpoint', message, flags=re.S), message
    assert not [name for name in os.listdir(tmp_path / 'work') if name.endswith('.pth')]


def test_resuming_with_other_optimizer_groups_is_refused(tmp_path, data_options):
    """Same model, other optimizer constructor: one parameter group, against layer decay's many."""
    plain = tmp_path / 'plain'
    train_tool.main([STAGE3, '--work-dir', str(plain), '--cfg-options', *data_options, *ONE_ITERATION,
                     'optim_wrapper.constructor=DefaultOptimWrapperConstructor', 'optim_wrapper.paramwise_cfg=None'])
    checkpoint = str(plain / 'iter_1.pth')
    message = refused_resume(STAGE3, checkpoint, tmp_path / 'work', [*data_options, *ONE_ITERATION])
    assert re.search(rf"{re.escape(checkpoint)} does not fit the config's optimizer: the checkpoint holds 1 "
                     r"parameter groups \((\d+) parameters: \1 per group\), the config's optimizer has (\d+) parameter "
                     r"groups \(\1 parameters: ", message), message
    assert f'--cfg-options load_from={checkpoint}, without --resume' in message
