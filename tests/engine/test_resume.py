"""`--resume` never continues from a checkpoint holding NaN or inf (as a run that diverged saves)."""
import pytest
import torch

from mmseg_adala.engine import resume
from mmseg_adala.engine.resume import ResumeError, non_finite_tensors, resume_checkpoint


def save_checkpoint(path, weight=1.0, moment=1.0):
    """A training checkpoint as mmengine writes one: a weight, its AdamW moments."""
    torch.save(dict(meta=dict(iter=int(path.stem.split('_')[1])),
                    state_dict={'backbone.w': torch.full((3,), weight), 'steps': torch.tensor(4)},
                    optimizer=dict(state={0: dict(step=torch.tensor(4.), exp_avg=torch.full((3,), moment),
                                                  exp_avg_sq=torch.ones(3))},
                                   param_groups=[dict(lr=0.1, params=[0])])), path)


def test_resume_skips_a_checkpoint_with_non_finite_tensors(tmp_path, monkeypatch):
    """Before: iter_6.pth, with NaN weights, was the newest checkpoint that loads."""
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
