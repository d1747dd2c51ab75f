"""One loader for every ViT checkpoint the backbone takes.

Accepted: the official releases (DINOv2's `dinov2_vit*14*_pretrain.pth`, DINOv3's
`dinov3_vit*16*_pretrain_*.pth`, OpenAI CLIP's TorchScript `ViT-L-14.pt`), open_clip's
checkpoints (OpenAI-style keys, or a timm `visual.trunk` as in its SigLIP models), timm's
layout (`.pth`, `.bin`, `.safetensors`), our stage exports, and whole MMSeg segmentor
checkpoints (`backbone.` prefix). Foreign layouts are converted by timm's own
`checkpoint_filter_fn` of the model's class, so users never convert files by hand. A
checkpoint must have been made for the backbone that loads it: same position-embedding grid,
and for stage exports the variant their `meta` records.
"""
import contextlib
import io
import math
from typing import Dict, List, Optional, Union

import torch
from mmengine.logging import MMLogger
from timm.models import eva, vision_transformer

from ...engine.checkpoint_file import read_checkpoint
from ..attention import ADDED_PARAMETER_PREFIXES
from .attention_settings import ATTENTION_SETTINGS, attention_differences
from .local_concentration_block import BLOCK_ADDED_PARAMETER_PREFIXES
from .vit_archs import resolve_arch

# Keys a checkpoint may carry that a backbone never uses: a classifier head, SigLIP's attention
# pooling, the norm after pooling.
IGNORED_PREFIXES = ('head.', 'attn_pool.', 'fc_norm.')
# Where the layouts keep the position embeddings: timm/DINOv2, OpenAI CLIP, open_clip's timm trunk.
POS_EMBED_KEYS = ('pos_embed', 'visual.positional_embedding', 'visual.trunk.pos_embed')
# Wrappers of the weights: mmengine/our exports ('state_dict'), DeiT-style ('model').
CONTAINER_KEYS = ('state_dict', 'model')
# Outer-module prefixes, outermost first: DDP, MMSeg segmentor, our backbone wrapper.
MODULE_PREFIXES = ('module.', 'backbone.', 'vit.')
# What the backbone takes and where it is set, for the messages about a missing file or one that is none of it.
VIT_CHECKPOINT = ('an official release (DINOv2/DINOv3 .pth, OpenAI CLIP .pt), an open_clip or timm state dict '
                  'or a stage export (backbone_*.pth), e.g. --cfg-options model.backbone.init_cfg.checkpoint=PATH')


def _load(checkpoint: Union[str, dict], expected: str = VIT_CHECKPOINT) -> dict:
    return read_checkpoint(checkpoint, expected=expected) if isinstance(checkpoint, str) else checkpoint


def expected_files(arch: str) -> str:
    """What a backbone of `arch` reads, for the messages about a missing file or one that is none of them."""
    return (f'{resolve_arch(arch).checkpoints} (arch {arch!r}) or a stage export (backbone_*.pth), e.g. '
            '--cfg-options model.backbone.init_cfg.checkpoint=PATH')


def read_vit_state_dict(checkpoint: Union[str, Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """The ViT's own tensors of a checkpoint file or dict, outer prefixes removed."""
    state = _load(checkpoint)
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


def grid_mismatch(state: Dict[str, torch.Tensor], vit: torch.nn.Module) -> List[str]:
    """The position-embedding grids of a raw state dict and of `vit` if they differ.

    A backbone built for another grid would resample the embeddings at load and the input
    grid resamples them again at run time, which a frozen backbone cannot repair.
    """
    pos_embed = next((state[key] for key in POS_EMBED_KEYS if key in state), None)
    if pos_embed is None or getattr(vit, 'pos_embed', None) is None:  # reported as a missing key / rotary
        return []
    length = pos_embed.shape[-2]  # M * M, or 1 + M * M with the cls token's entry
    side = math.isqrt(length) if math.isqrt(length) ** 2 == length else math.isqrt(length - 1)
    if (side, side) == tuple(vit.patch_embed.grid_size):
        return []
    patch = vit.patch_embed.patch_size[0]
    grid = 'x'.join(map(str, vit.patch_embed.grid_size))
    return [f'position-embedding grid: checkpoint {side}x{side} (img_size={side * patch}), backbone {grid} '
            f'(img_size={vit.patch_embed.img_size[0]}); set the backbone\'s img_size={side * patch}: inputs of '
            'any size interpolate the grid at run time']


def dropped_qkv_bias(state: Dict[str, torch.Tensor], vit: torch.nn.Module) -> List[str]:
    """Non-zero q/v biases of an official DINOv3 file that a bias-free model would drop.

    timm builds the released S/B/L/H+ models without q/v biases (theirs are all zero) and its
    converter drops the file's biases without a word; a file whose biases are not zero needs
    timm's `_qkvb` model, e.g. arch='vit_large_patch16_dinov3_qkvb'. The key bias does not
    count: DINOv3's `bias_mask` zeroes it (softmax is invariant to it) and timm drops it in both.
    """
    if 'storage_tokens' not in state or getattr(vit.blocks[0].attn, 'q_bias', None) is not None:
        return []
    return [key for key, value in state.items()
            if key.endswith('attn.qkv.bias') and any(part.any() for part in value.chunk(3)[::2])]


def variant_mismatch(meta: dict, variant: dict) -> List[str]:
    """How a stage export's `meta` and a backbone's `variant` (`AdaLAViT.variant`) differ.

    A difference would leave the parameters that only the backbone has (a learned feature
    map, local concentration) at their initialisation, or load weights trained for one
    kernel into another, without an error. A meta without attention settings is not a stage
    export's: only its arch, if any, is compared.
    """
    arch = meta.get('arch', variant['arch'])
    differences = [('arch', arch, variant['arch'])] if arch != variant['arch'] else []
    if any(key in meta for key in ATTENTION_SETTINGS):
        differences += attention_differences(meta, variant)
    return [f'{key}: export {theirs!r}, config {ours!r}' for key, theirs, ours in differences]


def load_vit_checkpoint(vit: torch.nn.Module,
                        checkpoint: Union[str, Dict[str, torch.Tensor]],
                        strict: bool = True,
                        variant: Optional[dict] = None) -> None:
    """Load a checkpoint into a timm ViT whose attention may be linear.

    Args:
        vit: The timm model, `VisionTransformer` or `Eva` (our backbone's `vit`).
        checkpoint: A path/URL (anything mmengine's CheckpointLoader reads) or a state dict.
        strict: Raise on missing or unexpected keys (listing them), and on a checkpoint made for
            another backbone (position-embedding grid; a stage export's `meta` against
            `variant`). Parameters that a softmax checkpoint cannot have (learned feature
            maps, local concentration) may always be missing: they keep their identity/zero
            initialisation.
        variant: The backbone's `arch` and attention settings (`AdaLAViT.variant`), as a stage
            export's `meta` records them.
    """
    name = checkpoint if isinstance(checkpoint, str) else 'the given state dict'
    checkpoint = _load(checkpoint, expected_files(variant['arch']) if variant else VIT_CHECKPOINT)
    state = read_vit_state_dict(checkpoint)
    logger = MMLogger.get_current_instance()
    meta = checkpoint.get('meta') if isinstance(checkpoint.get('meta'), dict) else {}
    mismatch = grid_mismatch(state, vit) + (variant_mismatch(meta, variant) if variant else [])
    if mismatch:
        message = f'checkpoint {name} was made for another backbone:\n  ' + '\n  '.join(mismatch)
        if strict:
            raise ValueError(message + '\nTo load it anyway, set the backbone\'s '
                             'init_cfg=dict(type=\'Pretrained\', checkpoint=..., strict=False).')
        logger.warning(message)
    nonzero_bias = dropped_qkv_bias(state, vit)
    if nonzero_bias:
        raise ValueError(f'checkpoint {name} has non-zero q/v biases ({nonzero_bias[0]}, ...) that this backbone '
                         'has no parameters for: build it from timm\'s _qkvb model, e.g. '
                         'arch=\'vit_large_patch16_dinov3_qkvb\'')
    filter_fn = eva.checkpoint_filter_fn if isinstance(vit, eva.Eva) else vision_transformer.checkpoint_filter_fn
    with contextlib.redirect_stdout(io.StringIO()):  # timm's DINOv3 converter prints each bias it drops
        state = filter_fn(state, vit)
    state = {k: v for k, v in state.items() if not k.startswith(IGNORED_PREFIXES)}
    try:
        missing, unexpected = vit.load_state_dict(state, strict=False)
    except RuntimeError as error:  # shape mismatch: another model family or size
        raise RuntimeError(f'checkpoint {name} does not fit this backbone (is `arch` the checkpoint\'s model '
                           f'family and size?):\n{error}') from error
    added = [k for k in missing if any(f'.attn.{prefix}' in k for prefix in ADDED_PARAMETER_PREFIXES)
             or k.split('.', 2)[-1].startswith(BLOCK_ADDED_PARAMETER_PREFIXES)]
    missing = [k for k in missing if k not in added]
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
