"""`--resume` continues a run exactly where it stopped, from the newest checkpoint that loads and is
finite, and a new run never starts over on top of one.

A run killed half way through writing a checkpoint (a real process, dying under `kill -9`) must
resume to the very weights and optimizer state of the uninterrupted run; damaged, truncated or
diverged (NaN or inf) checkpoints are skipped with the reason logged, because resuming from them
would silently lose or corrupt the run. Runs are the shared tiny stage 3 and stage 1 of
tests/helpers/tiny_runs.py; the killed one is a subprocess with the test-only KillDuringWriteHook.
"""
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest
import torch
from tiny_runs import ITERS, REPO, STAGE3

from mmseg_adala.engine import resume
from mmseg_adala.engine.resume import ResumeError, non_finite_tensors, resume_checkpoint

HELPERS = osp.join(REPO, 'tests', 'helpers')  # kill_during_write_hook, for the killed process


def save_checkpoint(path, weight=1.0, moment=1.0):
    """A training checkpoint as mmengine writes one: a weight, its AdamW moments."""
    torch.save(dict(meta=dict(iter=int(path.stem.split('_')[1])),
                    state_dict={'backbone.w': torch.full((3,), weight), 'steps': torch.tensor(4)},
                    optimizer=dict(state={0: dict(step=torch.tensor(4.), exp_avg=torch.full((3,), moment),
                                                  exp_avg_sq=torch.ones(3))},
                                   param_groups=[dict(lr=0.1, params=[0])])), path)


def test_resume_skips_a_checkpoint_with_non_finite_tensors(tmp_path, monkeypatch):
    """iter_6.pth (NaN weights) loads and iter_4.pth (inf moments) too; neither can continue the run."""
    logged = []
    monkeypatch.setattr(resume, 'print_log', lambda message, **kwargs: logged.append(message))
    save_checkpoint(tmp_path / 'iter_2.pth')
    save_checkpoint(tmp_path / 'iter_4.pth', moment=float('inf'))
    save_checkpoint(tmp_path / 'iter_6.pth', weight=float('nan'))
    assert resume_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_2.pth')
    assert any('skipped iter_6.pth: it holds NaN or inf in 1 tensors (e.g. state_dict.backbone.w): the run had '
               'diverged' in line for line in logged), logged
    assert any('skipped iter_4.pth: it holds NaN or inf in 1 tensors (e.g. optimizer.state.0.exp_avg)' in line
               for line in logged), logged
    with pytest.raises(ResumeError, match=r'cannot resume from .*iter_6\.pth: it holds NaN or inf'):
        resume_checkpoint(str(tmp_path), requested=str(tmp_path / 'iter_6.pth'))


def test_non_finite_tensors_are_named_by_their_path():
    checkpoint = dict(state_dict={'a': torch.zeros(2), 'b': torch.tensor([1., -float('inf')]),
                                  'count': torch.tensor(3)},
                      optimizer=dict(state={1: dict(exp_avg_sq=torch.tensor([float('nan')]))}),
                      message_hub=dict(loss=torch.tensor(float('nan'))))  # a logged NaN breaks no weight
    assert non_finite_tensors(checkpoint) == ['state_dict.b', 'optimizer.state.1.exp_avg_sq']


def flat_tensors(tree, prefix=''):
    """Every tensor in nested dicts and lists, by its path."""
    if isinstance(tree, torch.Tensor):
        return {prefix: tree}
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, (list, tuple)) else []
    return {k: v for key, value in items for k, v in flat_tensors(value, f'{prefix}.{key}').items()}


def assert_same_tensors(checkpoint, reference):
    """Every weight, buffer, optimizer state and the torch generator of two checkpoints, bit for bit."""
    got, want = ({key: value for key, value in flat_tensors(torch.load(path)).items()
                  if key.startswith(('.state_dict.', '.optimizer.', '.random_state.'))} for path in (checkpoint, reference))
    assert got.keys() == want.keys()
    for key, value in want.items():
        torch.testing.assert_close(got[key], value, atol=0, rtol=0, msg=key)
    return len(want)


def file_identity(path):
    stat = os.stat(path)
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def copy_checkpoints(run_dir, work_dir, iters):
    for i in iters:
        shutil.copy2(osp.join(run_dir, f'iter_{i}.pth'), work_dir)


def truncate(path):
    with open(path, 'r+b') as f:
        f.truncate(os.path.getsize(path) // 2)


# Killed while writing a checkpoint, resumed: the same run, tensor for tensor.

@pytest.mark.slow  # a training subprocess
def test_killed_while_writing_a_checkpoint_resumes_exactly(tmp_path, train_tool, stage3_options, straight_run):
    """Stage 3 with dropout dies half way through iter_4.pth (after validating at 2); `--resume` continues
    from iter_2.pth and ends with the uninterrupted run's weights and optimizer state."""
    config = tmp_path / 'stage3_killed_at_iter_4.py'
    config.write_text(f"_base_ = [{STAGE3!r}]\n"
                      "custom_imports = dict(imports=['mmseg_adala', 'kill_during_write_hook'], "
                      "allow_failed_imports=False)\n"
                      "custom_hooks = [dict(type='KillDuringWriteHook', name='iter_4.pth')]\n")
    work_dir = tmp_path / 'work'
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([HELPERS, os.environ.get('PYTHONPATH', '')]))
    killed = subprocess.run([sys.executable, osp.join(REPO, 'tools', 'train.py'), str(config), '--work-dir',
                             str(work_dir), '--cfg-options', *stage3_options],
                            env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == 137, killed.stderr[-3000:]
    assert not (work_dir / 'iter_4.pth').exists(), 'half a checkpoint under a good name'
    kept = file_identity(work_dir / 'iter_2.pth')

    train_tool.main([STAGE3, '--work-dir', str(work_dir), '--resume', '--cfg-options', *stage3_options])
    assert file_identity(work_dir / 'iter_2.pth') == kept, 'the run started over instead of resuming'
    assert torch.load(work_dir / 'iter_2.pth')['random_state'].keys() >= {'torch', 'numpy', 'python'}
    assert assert_same_tensors(work_dir / f'iter_{ITERS}.pth', osp.join(straight_run, f'iter_{ITERS}.pth')) > 100


# Which checkpoint `--resume` continues from, and never starting over on top of a run.

def test_resume_without_last_checkpoint_continues_from_the_newest(tmp_path, train_tool, stage3_options,
                                                                   straight_run):
    """mmengine reads `last_checkpoint` alone: without it, it would train from iteration 0 over iter_2/4.pth."""
    copy_checkpoints(straight_run, tmp_path, (2, 4))
    kept = file_identity(tmp_path / 'iter_4.pth')
    train_tool.main([STAGE3, '--work-dir', str(tmp_path), '--resume', '--cfg-options', *stage3_options])
    assert file_identity(tmp_path / 'iter_4.pth') == kept
    assert_same_tensors(tmp_path / f'iter_{ITERS}.pth', osp.join(straight_run, f'iter_{ITERS}.pth'))


def test_resume_skips_damaged_checkpoints_and_says_why(tmp_path, straight_run, monkeypatch):
    logged = []
    monkeypatch.setattr(resume, 'print_log', lambda message, **kwargs: logged.append(message))
    copy_checkpoints(straight_run, tmp_path, (2, 4, 6))
    (tmp_path / 'last_checkpoint').write_text('')  # mmengine: "FileNotFoundError:  can not be found."
    assert resume_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_6.pth')

    truncate(tmp_path / 'iter_6.pth')
    assert resume_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_4.pth')
    assert any('skipped iter_6.pth' in line and 'does not load' in line for line in logged), logged

    with pytest.raises(ResumeError, match=r'cannot resume from .*iter_6\.pth: it does not load'):
        resume_checkpoint(str(tmp_path), requested=str(tmp_path / 'iter_6.pth'))
    truncate(tmp_path / 'iter_4.pth')
    truncate(tmp_path / 'iter_2.pth')
    with pytest.raises(ResumeError, match=r'none loads: iter_6\.pth: .*; iter_4\.pth: .*; iter_2\.pth: '):
        resume_checkpoint(str(tmp_path))


def test_resume_starts_a_new_run_only_in_a_work_dir_without_one(tmp_path, stage1_run):
    assert resume_checkpoint(str(tmp_path)) is None
    shutil.copy2(osp.join(stage1_run, 'backbone_final.pth'), tmp_path)
    with pytest.raises(ResumeError, match='holds backbone_final.pth but no checkpoint to resume'):
        resume_checkpoint(str(tmp_path))


def test_a_new_run_refuses_a_work_dir_with_checkpoints(tmp_path, train_tool, stage3_options, straight_run):
    copy_checkpoints(straight_run, tmp_path, (2,))
    before = (tmp_path / 'iter_2.pth').read_bytes()
    with pytest.raises(SystemExit) as refused:
        train_tool.main([STAGE3, '--work-dir', str(tmp_path), '--cfg-options', *stage3_options])
    assert 'iter_2.pth' in str(refused.value.code) and '--resume' in str(refused.value.code)
    assert '--work-dir' in str(refused.value.code)
    assert (tmp_path / 'iter_2.pth').read_bytes() == before
    assert os.listdir(tmp_path) == ['iter_2.pth']
