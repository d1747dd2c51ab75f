"""tools/train.py (mmseg_adala/train.py): one run per work_dir, so that two trainings started into the
same --work-dir cannot both write the same iter_* and backbone_* names; a typo in `--cfg-options`
stops the tool before it writes anything."""
import json
import os
import os.path as osp
import socket

import pytest
from tiny import TINY_CONFIGS, synthetic_data_options

from mmseg_adala import train as train_tool
from mmseg_adala.datasets.synthetic_ade20k import make_synthetic_ade20k
from mmseg_adala.engine.work_dir_lock import RANK_VARIABLES, WorkDirLock

STAGE3 = osp.join(TINY_CONFIGS, 'adala_upernet_synthetic_tiny.py')


@pytest.fixture(scope='module')
def options(tmp_path_factory):
    data = str(tmp_path_factory.mktemp('synthetic'))
    make_synthetic_ade20k(data, num_train=2, num_val=1, image_size=64, num_classes=3)
    return [*synthetic_data_options(data), 'train_dataloader.batch_size=2', 'train_cfg.max_iters=1',
            'train_cfg.val_interval=1', 'default_hooks.checkpoint.interval=1']


@pytest.fixture
def first_process(monkeypatch):
    for name in RANK_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_a_second_run_into_a_work_dir_in_use_is_refused(tmp_path, options, first_process):
    with WorkDirLock(str(tmp_path)) as running:
        with open(running.path) as f:
            started = json.load(f)['started']
        with pytest.raises(SystemExit) as refused:
            train_tool.main([STAGE3, '--work-dir', str(tmp_path), '--cfg-options', *options])
        assert (f'{tmp_path} is in use by another training run (PID {os.getpid()} on {socket.gethostname()}, '
                f'started {started}') in str(refused.value.code)
        assert os.listdir(tmp_path) == ['run.lock']
    train_tool.main([STAGE3, '--work-dir', str(tmp_path), '--cfg-options', *options])  # once it ended
    assert 'iter_1.pth' in os.listdir(tmp_path) and 'run.lock' not in os.listdir(tmp_path)


@pytest.mark.slow
def test_the_other_processes_of_a_run_take_no_lock(tmp_path, options, monkeypatch):
    """Under torchrun every process runs this tool: only the first (RANK 0) holds the lock."""
    with WorkDirLock(str(tmp_path)):  # rank 0 of the same run
        monkeypatch.setenv('RANK', '1')
        train_tool.main([STAGE3, '--work-dir', str(tmp_path), '--cfg-options', *options])
    assert 'iter_1.pth' in os.listdir(tmp_path)


def test_a_typo_on_the_command_line_stops_the_tool(tmp_path, train_tool, stage3_options):
    with pytest.raises(SystemExit) as refused:
        train_tool.main([STAGE3, '--work-dir', str(tmp_path), '--cfg-options', *stage3_options, 'randomnes.seed=1'])
    assert "did you mean 'randomness'" in str(refused.value.code)
    assert os.listdir(tmp_path) == []
