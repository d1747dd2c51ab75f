"""BackboneExportHook writes the stage-1/2 backbone export atomically: an export killed half way
keeps the previous one, which the next stage's `init_cfg` would otherwise fail to load."""
import io
import os
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MMLogger

from mmseg_adala.alignment import BackboneExportHook


def exporting_runner(work_dir, weight):
    """What BackboneExportHook uses of a runner, with a model whose export is `weight`."""
    model = SimpleNamespace(export_backbone=lambda: {'state_dict': {'w': weight}})
    return SimpleNamespace(model=model, work_dir=str(work_dir), logger=MMLogger.get_current_instance())


def test_a_backbone_export_killed_mid_write_keeps_the_previous_one(tmp_path, monkeypatch):
    BackboneExportHook().after_train(exporting_runner(tmp_path, torch.arange(10000.)))

    def save_half_and_die(obj, f):
        buffer = io.BytesIO()
        torch.serialization.save(obj, buffer)
        half = buffer.getvalue()[:buffer.tell() // 2]
        if isinstance(f, (str, os.PathLike)):
            with open(f, 'wb') as file:
                file.write(half)
        else:
            f.write(half)
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, 'save', save_half_and_die)
    with pytest.raises(KeyboardInterrupt):
        BackboneExportHook().after_train(exporting_runner(tmp_path, torch.zeros(10000)))
    monkeypatch.undo()
    torch.testing.assert_close(torch.load(tmp_path / 'backbone_final.pth')['state_dict']['w'], torch.arange(10000.))
