"""One loader for every ViT checkpoint the backbone takes.

Accepted: the official DINOv2 release (`dinov2_vit*14*_pretrain.pth`: `mask_token`,
`register_tokens`, giant's SwiGLU `w12`/`w3`), timm's layout, our stage exports, and whole
MMSeg segmentor checkpoints (`backbone.` prefix). The official layout is converted and the
position embeddings resampled by timm's own `checkpoint_filter_fn`, so users never convert
files by hand.
"""
import os.path as osp
from typing import Dict, Union

import torch
from mmengine.logging import MMLogger
from mmengine.runner import CheckpointLoader
from timm.models.vision_transformer import VisionTransformer, checkpoint_filter_fn

from ..attention import ADDED_PARAMETER_PREFIXES

# Keys a checkpoint may carry that a backbone never uses (a classifier head).
IGNORED_PREFIXES = ('head.',)
# Wrappers of the weights: mmengine/our exports ('state_dict'), DeiT-style ('model').
CONTAINER_KEYS = ('state_dict', 'model')
# Outer-module prefixes, outermost first: DDP, MMSeg segmentor, our backbone wrapper.
MODULE_PREFIXES = ('module.', 'backbone.', 'vit.')


def read_vit_state_dict(checkpoint: Union[str, Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """The ViT's own tensors of a checkpoint file or dict, outer prefixes removed."""
    if isinstance(checkpoint, str):
        if '://' not in checkpoint and not osp.isfile(checkpoint):
            raise FileNotFoundError(
                f'backbone checkpoint {checkpoint!r} does not exist: give the path of an official DINOv2 '
                '.pth, a timm state dict or a stage export (e.g. --cfg-options '
                'model.backbone.init_cfg.checkpoint=PATH)')
        checkpoint = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
    state = checkpoint
    for key in CONTAINER_KEYS:
        if isinstance(state.get(key), dict):
            state = state[key]
    for prefix in MODULE_PREFIXES:
        if any(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    return dict(state)


def timm_to_official_dinov2(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """The official DINOv2 release layout of a timm DINOv2 state dict (inverse of timm's converter).

    For writing a small model as if it were a DINOv2 release file, so that it goes through
    the same loader as the real `dinov2_vit*14*_pretrain.pth` (the demo's teacher, tests).
    """
    state = dict(state)
    embed_dim = state['cls_token'].shape[-1]
    state['mask_token'] = torch.zeros(1, embed_dim)
    if 'reg_token' in state:  # with registers, the cls token's position embedding is folded into it
        state['register_tokens'] = state.pop('reg_token')
        cls_pos = torch.zeros(1, 1, embed_dim)
        state['pos_embed'] = torch.cat([cls_pos, state['pos_embed']], dim=1)
    if state['blocks.0.mlp.fc1.weight'].shape[0] != 4 * embed_dim:  # giant's SwiGLU: w12 (packed) and w3
        state = {k.replace('.mlp.fc1.', '.mlp.w12.').replace('.mlp.fc2.', '.mlp.w3.'): v for k, v in state.items()}
    return state


def load_vit_checkpoint(vit: VisionTransformer,
                        checkpoint: Union[str, Dict[str, torch.Tensor]],
                        strict: bool = True) -> None:
    """Load a checkpoint into a timm ViT whose attention may be linear.

    Args:
        vit: The model (our backbone's `vit`).
        checkpoint: A path/URL (anything mmengine's CheckpointLoader reads) or a state dict.
        strict: Raise on missing or unexpected keys (listing them). Parameters that a softmax
            checkpoint cannot have (learned feature maps, local concentration) may always be
            missing: they keep their identity/zero initialisation.
    """
    name = checkpoint if isinstance(checkpoint, str) else 'the given state dict'
    state = checkpoint_filter_fn(read_vit_state_dict(checkpoint), vit)
    state = {k: v for k, v in state.items() if not k.startswith(IGNORED_PREFIXES)}
    try:
        missing, unexpected = vit.load_state_dict(state, strict=False)
    except RuntimeError as error:  # shape mismatch: another model size
        raise RuntimeError(f'checkpoint {name} does not fit this backbone (is `arch` the checkpoint\'s '
                           f'model size?):\n{error}') from error
    added = [k for k in missing if any(f'.attn.{prefix}' in k for prefix in ADDED_PARAMETER_PREFIXES)]
    missing = [k for k in missing if k not in added]
    logger = MMLogger.get_current_instance()
    if missing or unexpected:
        message = (f'checkpoint {name} does not match the backbone:\n  missing keys: {missing}\n'
                   f'  unexpected keys: {unexpected}')
        if strict:
            raise KeyError(message + '\nTo load the matching part only, set the backbone\'s '
                           'init_cfg=dict(type=\'Pretrained\', checkpoint=..., strict=False).')
        logger.warning(message)
    if added:
        logger.info(f'{len(added)} linear-attention parameters not in {name} keep their initialisation')
    logger.info(f'loaded backbone weights from {name}')
