"""Layer-wise learning-rate decay for fine-tuning an AdaLAViT segmentor (stage 3)."""
from typing import List

import torch.nn as nn
from mmengine.optim import DefaultOptimWrapperConstructor
from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS

# Parameters without weight decay: embeddings and tokens, besides every 1-D tensor (norms,
# biases, LayerScale), as in BEiT/DINOv2 fine-tuning.
NO_DECAY_NAMES = ('cls_token', 'reg_token', 'pos_embed', 'mask_token')


def layer_id(name: str, num_blocks: int) -> int:
    """0 for the embeddings, i + 1 for block i, num_blocks + 1 for the rest (final norm, heads)."""
    if name.startswith('backbone.vit.'):
        rest = name[len('backbone.vit.'):]
        if rest.startswith(('cls_token', 'reg_token', 'pos_embed', 'patch_embed')):
            return 0
        if rest.startswith('blocks.'):
            return int(rest.split('.')[1]) + 1
    return num_blocks + 1


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class ViTLayerDecayOptimizerConstructor(DefaultOptimWrapperConstructor):
    """Each backbone block's learning rate is `decay_rate` times the one above it.

    Pretrained lower blocks hold general features and move less; the decode head and the
    final norm get the base learning rate. Configure with
    `paramwise_cfg=dict(decay_rate=0.9)`; the number of blocks comes from the model.
    """

    def add_params(self, params: List[dict], module: nn.Module, **kwargs) -> None:
        decay_rate = self.paramwise_cfg.get('decay_rate', 1.0)
        num_blocks = len(module.backbone.vit.blocks)
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            no_decay = param.ndim == 1 or name.split('.')[-1] in NO_DECAY_NAMES
            scale = decay_rate ** (num_blocks + 1 - layer_id(name, num_blocks))
            params.append(dict(params=[param], lr=self.base_lr * scale,
                               weight_decay=0. if no_decay else self.base_wd, param_name=name))
