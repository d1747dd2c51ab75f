"""Checkpoints hold the random state (torch, numpy, python), so that a resumed run draws what the
uninterrupted one would; it restores from a checkpoint that mmengine loaded onto the GPU
(`--resume` there).

On a GPU, mmengine's resume loads checkpoints with map_location='cuda': the saved generator
states arrive as CUDA byte tensors, and `torch.set_rng_state` takes CPU ones only.
"""
import io
import os.path as osp
import random

import numpy as np
import torch

from mmseg_adala.engine.random_state_hook import capture_random_state, restore_random_state


def draws():
    return random.random(), float(np.random.rand()), torch.rand(3).tolist()


class OffTheCpu(torch.Tensor):
    """A state tensor that did not come back to the CPU: data on 'meta' (as CUDA data is to
    `torch.set_rng_state`), with what `.cpu()` would copy back."""

    @staticmethod
    def __new__(cls, data: torch.Tensor):
        tensor = torch.Tensor._make_subclass(cls, data.to('meta'))
        tensor.host_copy = data
        return tensor

    def cpu(self, *args, **kwargs):
        return self.host_copy


def test_restores_states_loaded_onto_the_device(device):
    state = capture_random_state()
    expected = draws()
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, map_location=device, weights_only=False)  # as mmengine's resume loads it
    assert loaded['torch'].device.type == device
    restore_random_state(loaded)
    assert draws() == expected


def test_restores_states_that_are_not_on_the_cpu(monkeypatch):
    """The same on a machine without a GPU: states off the CPU, and a CUDA generator faked."""
    state = capture_random_state()
    cuda_state = torch.get_rng_state()  # any byte tensor stands in for the CUDA generator's
    expected = draws()
    given = []
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'set_rng_state', given.append)
    restore_random_state(dict(state, torch=OffTheCpu(state['torch']), cuda=OffTheCpu(cuda_state)))
    assert draws() == expected
    assert len(given) == 1 and given[0].device.type == 'cpu' and torch.equal(given[0], cuda_state)


def test_a_stage1_checkpoint_holds_the_random_state(stage1_run):
    state = torch.load(osp.join(stage1_run, 'iter_2.pth'))['random_state']
    assert state['torch'].dtype == torch.uint8 and state['numpy'][0] == 'MT19937' and state['python'][0] == 3
