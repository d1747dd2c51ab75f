"""The variants measured: one AdaLAViT with softmax, linear or no attention, alone or in a segmentor.

``no_attention`` keeps every attention's qkv and proj layers but drops the kernel
(out = proj(v)): the ceiling of any linear-attention backbone. A new variant is one entry of
`VARIANT_ATTENTION` (its attention settings, AdaLAViT's arguments); the CLI and the tables
take it from there.
"""
import math
import os.path as osp
from typing import Optional

import torch
import torch.nn as nn

from ..engine.config_files import CONFIG_ROOT
from ..models import AdaLAViT
from ..models.backbones.attention_settings import attention_settings

# The attention settings per variant (`attention_settings`).
VARIANT_ATTENTION = {
    'softmax': dict(attn_type='softmax'),
    'linear': dict(attn_type='linear', feature_map='elu'),
    'no_attention': dict(attn_type='none'),
    # ViTDet's window attention in every block; the LoLCATs baseline; L2ViT-style alternation
    # (configs/lolcats, configs/l2vit). The alternation lists 12 blocks: ViT-S and ViT-B only.
    'window': dict(attn_type='window', attn_cfg=dict(window_size=14)),
    'lolcats': dict(attn_type='window_linear', feature_map='hedgehog',
                    attn_cfg=dict(window_size=8, feature_map_cfg=dict(bias=False))),
    'l2vit': dict(attn_type=['window', 'linear'] * 6, feature_map='relu',
                  attn_cfg=dict(window_size=7, local_concentration=True)),
}
VARIANTS = tuple(VARIANT_ATTENTION)
# Measured unless --variants says otherwise; the local-window baselines are opt-in.
DEFAULT_VARIANTS = ('softmax', 'linear', 'no_attention')
DEFAULT_SEGMENTOR_CONFIG = osp.join(CONFIG_ROOT, 'adala_dinov2_l_ade20k.py')


def build_backbone(variant: str, arch: str = 'dinov2_vits14', vit_cfg: Optional[dict] = None,
                   **kwargs) -> AdaLAViT:
    """The AdaLAViT of one variant (random weights), e.g. ``build_backbone('no_attention')``."""
    return AdaLAViT(arch=arch, vit_cfg=vit_cfg, **VARIANT_ATTENTION[variant], **kwargs)


def segmentor_model_config(config_path: str, variant: str, arch: str, vit_cfg: Optional[dict] = None,
                           head_tile: Optional[int] = None):
    """The segmentor config of `config_path` turned into one variant (`build_segmentor` builds it).

    The backbone gets the arch, the variant's attention (its attn_type, feature_map and
    attn_cfg replace the config's) and `vit_cfg` overrides, and no pretrained weights.
    The config's number of backbone outputs is kept but spread evenly over the chosen depth
    (5, 11, 17, 23 for 24 blocks; 2, 5, 8, 11 for 12), since the config's indices are for its
    own arch; a backbone with fewer blocks than outputs gives its last block only, which
    MultiLevelNeck repeats at every scale (as configs/tiny does). The neck takes the chosen
    width (Feature2Pyramid keeps it, and the head, Mask2Former's, takes it from the neck).
    Inference is whole-image (what linear attention is for), with the config's other test_cfg
    keys; `head_tile` replaces the config's (0: untiled neck and head).
    """
    from mmengine.config import Config
    from mmseg.registry import MODELS

    model = Config.fromfile(config_path).model
    backbone = model.backbone
    if backbone.get('type') != 'AdaLAViT':
        raise ValueError(f'{config_path}: the benchmark needs an AdaLAViT backbone, got {backbone.get("type")!r}')
    backbone.update(arch=arch, init_cfg=None, **attention_settings(VARIANT_ATTENTION[variant]))
    if vit_cfg:
        backbone.vit_cfg = {**(backbone.get('vit_cfg') or {}), **vit_cfg}
    with torch.device('meta'):  # the shape only: no memory, no initialisation
        shape = MODELS.build(dict(backbone, out_indices=(-1,)))
    depth, num_outputs = len(shape.vit.blocks), len(backbone.out_indices)
    pyramid = model.get('neck') is not None and model.neck.type == 'Feature2Pyramid'
    if depth < num_outputs and pyramid:
        raise ValueError(f'{config_path}: Feature2Pyramid takes {num_outputs} blocks, the ViT has {depth}')
    if depth < num_outputs:  # too shallow for distinct outputs: MultiLevelNeck repeats a single one
        num_outputs = 1
    backbone.out_indices = tuple(math.ceil(depth * (i + 1) / num_outputs) - 1 for i in range(num_outputs))
    if pyramid:  # one map per level at the ViT's width, which the head then reads
        model.neck.embed_dim = shape.embed_dim
        model.decode_head.in_channels = [shape.embed_dim] * num_outputs
    elif model.get('neck') is not None:
        model.neck.in_channels = [shape.embed_dim] * num_outputs
    model.test_cfg = dict(model.get('test_cfg') or {}, mode='whole')
    if head_tile is not None:
        model.test_cfg['head_tile'] = head_tile or None
    return model


def build_segmentor(config_path: str, variant: str, arch: str, vit_cfg: Optional[dict] = None,
                    head_tile: Optional[int] = None) -> nn.Module:
    """The MMSeg segmentor of one variant (random weights): see :func:`segmentor_model_config`.

    Its SyncBN layers are reverted to BatchNorm, as mmengine's Runner does in a single process.
    """
    from mmengine.model import revert_sync_batchnorm
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    return revert_sync_batchnorm(MODELS.build(segmentor_model_config(config_path, variant, arch, vit_cfg, head_tile)))
