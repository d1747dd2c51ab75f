"""Writes the trained backbone in the format `AdaLAViT`'s init_cfg loads."""
import os.path as osp

import torch
from mmengine.dist import master_only
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from ..engine.atomic_file import atomic_write
from ..engine.model_wrappers import bare_model


@HOOKS.register_module()
class BackboneExportHook(Hook):
    """Exports `model.export_backbone()` beside every checkpoint and at the end of training.

    Files in the work_dir: `backbone_iter_{N}.pth` with each checkpoint and `backbone_final.pth`
    after the last iteration; the next stage's config points its `init_cfg` at one of them.
    Each is written atomically: a run killed mid-export leaves the previous file, never half a one.
    """

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        self._export(runner, f'backbone_iter_{checkpoint["meta"]["iter"]}.pth')

    def after_train(self, runner) -> None:
        self._export(runner, 'backbone_final.pth')

    @master_only
    def _export(self, runner, filename: str) -> None:
        model = bare_model(runner.model)
        path = osp.join(runner.work_dir, filename)
        with atomic_write(path) as f:
            torch.save(model.export_backbone(), f)
        runner.logger.info(f'exported the backbone to {path}')
