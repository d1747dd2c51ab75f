"""Parameter groups for training a pretrained ViT: BEiT/DINOv2's weight-decay rule, layer-wise lr decay."""
import re
from collections import Counter
from typing import List, Optional

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor
from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS

# BEiT's and DINOv2's fine-tuning recipes decay only the weight matrices: not the 1-D tensors
# (norms, biases, LayerScale gammas), nor the learned tokens and position embeddings. Decaying
# those pulls the teacher's values towards 0. Written in mmengine's paramwise_cfg terms.
VIT_NO_DECAY = dict(flat_decay_mult=0.0, custom_keys={
    key: dict(decay_mult=0.0) for key in ('cls_token', 'reg_token', 'pos_embed', 'mask_token')})

_BLOCK = re.compile(r'(?:^|\.)vit\.blocks\.(\d+)\.')
# Below the first block: embeddings, tokens and CLIP's norm before the blocks (ln_pre).
_EMBEDDING = re.compile(r'(?:^|\.)vit\.(?:cls_token|reg_token|pos_embed|mask_token|patch_embed|norm_pre)')


def layer_id(name: str, num_blocks: int) -> int:
    """0 for the ViT's embeddings, i + 1 for its block i, num_blocks + 1 for the rest (final norm, heads)."""
    block = _BLOCK.search(name)
    if block:
        return int(block.group(1)) + 1
    return 0 if _EMBEDDING.search(name) else num_blocks + 1


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class ViTLayerDecayOptimizerConstructor(DefaultOptimWrapperConstructor):
    """mmengine's paramwise rules with `VIT_NO_DECAY` by default, and each ViT block's learning
    rate `decay_rate` times the one above it.

    Pretrained lower blocks hold general features and move less (BEiT's layer decay); the
    decode head and the final norm get the base learning rate. `paramwise_cfg` takes
    `decay_rate` (default 1: no layer decay) and every option of mmengine's
    `DefaultOptimWrapperConstructor` (`custom_keys`, `norm_decay_mult`, `flat_decay_mult`, ...),
    which override `VIT_NO_DECAY`'s (custom keys are merged key by key). The ViT is found by
    its parameter names (`*.vit.blocks.<i>.*`), so one constructor serves a segmentor
    (`backbone.vit`) and the alignment models (`student.vit`).

    Parameters are grouped per (layer, options): one group per layer with weight decay and one
    without, not one per tensor. Frozen modules (the alignment teacher, a probed backbone) are
    left out without a warning per tensor. The lr scale of each layer is logged once.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None) -> None:
        paramwise_cfg = dict(paramwise_cfg or {})
        self.decay_rate = paramwise_cfg.pop('decay_rate', 1.0)
        custom_keys = dict(VIT_NO_DECAY['custom_keys'], **paramwise_cfg.pop('custom_keys', {}))
        super().__init__(optim_wrapper_cfg, dict(VIT_NO_DECAY, **paramwise_cfg, custom_keys=custom_keys))

    def add_params(self, params: List[dict], module: nn.Module, prefix: str = '', **kwargs) -> None:
        """mmengine's per-tensor rules, then the tensors regrouped by (layer, options)."""
        if not any(p.requires_grad for p in module.parameters()):
            return
        if prefix:  # mmengine recursing into a submodule
            super().add_params(params, module, prefix, **kwargs)
            return
        per_tensor = []
        super().add_params(per_tensor, module, **kwargs)
        names = {id(param): name for name, param in module.named_parameters()}
        blocks = [int(m.group(1)) for m in map(_BLOCK.search, names.values()) if m]
        num_blocks = max(blocks) + 1 if blocks else 0
        groups = {}
        for tensor_group in per_tensor:
            param = tensor_group.pop('params')[0]
            for applied in ('lr_mult', 'decay_mult'):  # mmengine's copies of custom_keys, in lr and weight_decay
                tensor_group.pop(applied, None)
            name = names[id(param)]
            layer = layer_id(name, num_blocks)
            scale = self.decay_rate ** (num_blocks + 1 - layer)
            options = dict(tensor_group, lr=tensor_group.get('lr', self.base_lr) * scale)
            if self.base_wd is not None:
                options.setdefault('weight_decay', self.base_wd)
            group = groups.setdefault((layer, tuple(sorted(options.items()))),
                                      dict(options, params=[], param_names=[], layer_id=layer, lr_scale=scale))
            group['params'].append(param)
            group['param_names'].append(name)
        params.extend(groups.values())
        self._log(groups.values(), num_blocks)

    def _log(self, groups, num_blocks: int) -> None:
        scales, tensors, no_decay = {}, Counter(), Counter()
        for group in groups:
            layer = group['layer_id']
            scales[layer] = group['lr_scale']
            tensors[layer] += len(group['params'])
            no_decay[layer] += len(group['params']) if group.get('weight_decay') == 0 else 0
        print_log(
            f'{type(self).__name__}: {sum(tensors.values())} tensors in {len(scales)} layers '
            f'(0: embeddings, 1-{num_blocks}: blocks, {num_blocks + 1}: the rest), decay_rate '
            f'{self.decay_rate}; per layer, lr scale and tensors without weight decay: '
            + ', '.join(f'{layer}: x{scales[layer]:.4g} ({no_decay[layer]}/{tensors[layer]})'
                        for layer in sorted(scales)), logger='current')
