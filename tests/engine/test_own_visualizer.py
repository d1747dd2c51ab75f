"""Two runs in one process (a notebook, tools/demo.py, the test suite) each log their scalars into
their own work_dir: mmengine keeps one visualizer per name, and MMSeg's configs all say 'visualizer'."""
import os.path as osp

from mmengine.runner import Runner
from tiny import TINY_CONFIGS

from mmseg_adala.engine.run_config import load_run_config

STAGE3 = osp.join(TINY_CONFIGS, 'adala_upernet_synthetic_tiny.py')


def test_each_run_in_a_process_logs_into_its_own_work_dir(tmp_path):
    runners = [Runner.from_cfg(load_run_config(STAGE3, work_dir=str(tmp_path / name))) for name in ('first', 'second')]
    for runner, name in zip(runners, ('first', 'second')):
        save_dir = runner.visualizer._vis_backends['LocalVisBackend']._save_dir
        assert save_dir.startswith(str(tmp_path / name) + osp.sep), save_dir
