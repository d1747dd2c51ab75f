"""Test-only hook: every rank saves its model weights, so a test can compare the ranks."""
import os.path as osp

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from mmseg_adala.engine.model_wrappers import bare_model


@HOOKS.register_module()
class RankWeightsHook(Hook):

    def after_train(self, runner) -> None:
        model = bare_model(runner.model)
        torch.save(model.state_dict(), osp.join(runner.work_dir, f'rank{get_rank()}_weights.pth'))
