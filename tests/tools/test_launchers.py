"""The shell launchers parse, and the Slurm ones hand srun the command MMSeg's would."""
import glob
import os
import os.path as osp
import subprocess

import pytest

TOOLS = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'tools')


@pytest.mark.parametrize('script', sorted(glob.glob(osp.join(TOOLS, '*.sh'))), ids=osp.basename)
def test_launcher_parses_and_is_executable(script):
    subprocess.run(['bash', '-n', script], check=True)
    assert os.access(script, os.X_OK)


@pytest.mark.parametrize('launcher, arguments, script', [
    ('slurm_train.sh', ['cfg.py', '--amp'], ['train.py', 'cfg.py', '--amp']),
    ('slurm_test.sh', ['cfg.py', 'ck.pth', '--out', 'o'], ['test.py', 'cfg.py', 'ck.pth', '--out', 'o']),
])
def test_slurm_launcher_command(launcher, arguments, script, tmp_path):
    fake_srun = tmp_path / 'srun'
    fake_srun.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    fake_srun.chmod(0o755)
    env = dict(os.environ, PATH=f'{tmp_path}{os.pathsep}{os.environ["PATH"]}', GPUS='16', SRUN_ARGS='--exclusive')
    srun_argv = subprocess.run([osp.join(TOOLS, launcher), 'gpu', 'job', *arguments], env=env, check=True,
                               capture_output=True, text=True).stdout.splitlines()
    assert srun_argv == ['-p', 'gpu', '--job-name=job', '--gres=gpu:8', '--ntasks=16', '--ntasks-per-node=8',
                         '--cpus-per-task=5', '--kill-on-bad-exit=1', '--exclusive', 'python', '-u',
                         osp.join(TOOLS, script[0]), *script[1:], '--launcher', 'slurm']
