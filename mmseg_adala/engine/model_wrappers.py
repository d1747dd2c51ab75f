"""The model a runner wraps, for code that reads its weights or hooks its forward.

mmengine wraps the model for distributed training (DDP, FSDP) and for test-time augmentation
(`BaseTTAModel`); each wrapper holds the model as `.module` and prefixes its state-dict keys
with `module.`, which checkpoints, exports and hooks must not see. mmengine has no public
function that unwraps both kinds.
"""
import torch.nn as nn
from mmengine.model import BaseTTAModel, is_model_wrapper


def bare_model(model: nn.Module) -> nn.Module:
    """`model` without its distributed and test-time-augmentation wrappers."""
    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    return model
