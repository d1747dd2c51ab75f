"""The ViTs AdaLAViT builds: the paper's foundation models by short name, or any timm ViT.

A model is data, not code (as timm's own model sizes are): a timm model name with its
pretrained tag, which also fixes the input normalisation the weights were trained with, so
configs take mean/std from here rather than by hand. Two timm classes are supported:
`VisionTransformer` (DINOv2, CLIP, SigLIP, ImageNet ViTs: learned absolute position
embeddings) and `Eva` (DINOv3: rotary position embeddings).
"""
import re
from dataclasses import dataclass
from typing import Dict, List, Optional

import timm
from mmengine.logging import MMLogger

# timm's modules of the model classes AdaLAViT takes: plain ViT blocks whose attention it can replace.
SUPPORTED_MODULES = {'timm.models.vision_transformer': 'VisionTransformer', 'timm.models.eva': 'Eva'}


@dataclass(frozen=True)
class ViTArch:
    """One backbone model.

    Args:
        timm_name: timm model name with its pretrained tag ('vit_large_patch16_siglip_256.webli'):
            the tag selects timm's pretrained config, whose mean/std are the model's normalisation.
        checkpoints: The weight files a user has for it, named when a checkpoint is missing or none.
        dinov2_interpolation: Interpolate position embeddings as DINOv2's own code does (its
            released weights were trained and evaluated that way), not as timm does.
    """
    timm_name: str
    checkpoints: str = "timm's weights (model.safetensors / pytorch_model.bin)"
    dinov2_interpolation: bool = False

    @property
    def model_name(self) -> str:
        """timm's model name without the pretrained tag."""
        return self.timm_name.split('.')[0]

    @property
    def patch_size(self) -> int:
        """Patch side in pixels, from timm's model name ('..._patch14_...') or else a 1-block model."""
        named = re.search(r'patch(\d+)', self.model_name)
        return int(named.group(1)) if named else build_timm_vit(self, depth=1).patch_embed.patch_size[0]

    @property
    def normalisation(self) -> Dict[str, List[float]]:
        """The input mean/std on 0-255 RGB pixels, as MMSeg's data preprocessors take them."""
        cfg = timm.get_pretrained_cfg(self.timm_name)
        if cfg is None:
            raise ValueError(f'timm has no pretrained config for {self.timm_name!r}: no known normalisation')
        return dict(mean=[round(255 * m, 4) for m in cfg.mean], std=[round(255 * s, 4) for s in cfg.std])

    @property
    def img_size(self) -> int:
        """Side in pixels of the weights' position-embedding grid (timm's pretrained input size)."""
        cfg = timm.get_pretrained_cfg(self.timm_name)
        return cfg.input_size[-1] if cfg is not None else 224


_DINOV2 = "official DINOv2 release (dinov2_vit*14*_pretrain.pth) or timm's weights"
_DINOV3 = "official DINOv3 release (dinov3_vit*16*_pretrain_lvd1689m-*.pth) or timm's weights"
_DINOV2_SIZES = dict(s='small', b='base', l='large', g='giant')
_DINOV3_SIZES = dict(s16='small', s16plus='small_plus', b16='base', l16='large', h16plus='huge_plus')

ARCHS: Dict[str, ViTArch] = {
    **{f'dinov2_vit{s}14{reg}': ViTArch(f'vit_{size}_patch14{reg and "_reg4"}_dinov2.lvd142m', _DINOV2,
                                         dinov2_interpolation=True)
       for s, size in _DINOV2_SIZES.items() for reg in ('', '_reg')},
    **{f'dinov3_vit{s}': ViTArch(f'vit_{size}_patch16_dinov3.lvd1689m', _DINOV3) for s, size in _DINOV3_SIZES.items()},
    # DINOv3-L distilled on satellite images: the same network with its own normalisation.
    'dinov3_vitl16_sat': ViTArch('vit_large_patch16_dinov3.sat493m', _DINOV3.replace('lvd1689m', 'sat493m')),
    # OpenAI's CLIP was trained with QuickGELU; timm's plain `vit_large_patch14_clip_224` uses GELU.
    'clip_vitl14': ViTArch('vit_large_patch14_clip_quickgelu_224.openai',
                           "OpenAI's release (ViT-L-14.pt, TorchScript), open_clip's or timm's weights"),
    'clip_vitl14_laion': ViTArch('vit_large_patch14_clip_224.laion2b', "open_clip's (LAION-2B) or timm's weights"),
    'siglip_vitl16': ViTArch('vit_large_patch16_siglip_256.webli', "open_clip's or timm's weights"),
    'siglip_vitl16_384': ViTArch('vit_large_patch16_siglip_384.webli', "open_clip's or timm's weights"),
    'in21k_vitl16': ViTArch('vit_large_patch16_224.augreg_in21k', "timm's weights (AugReg ImageNet-21K)"),
    # The supervised ImageNet ViT-L of the paper's generality table: AugReg's, fine-tuned on ImageNet-1K.
    'in1k_vitl16': ViTArch('vit_large_patch16_224.augreg_in21k_ft_in1k',
                           "timm's weights (AugReg ImageNet-21K, fine-tuned on ImageNet-1K)"),
}

# AdaLAViT's arch when a config names none: the paper's backbone.
DEFAULT_ARCH = 'dinov2_vitl14'


def resolve_arch(name: str) -> ViTArch:
    """The model of a short name in `ARCHS` or of any timm ViT name (with or without its tag)."""
    if name in ARCHS:
        return ARCHS[name]
    model_name = name.split('.')[0]
    if not timm.is_model(model_name):
        raise ValueError(f'unknown arch {name!r}: neither one of {sorted(ARCHS)} nor a timm model name '
                         '(timm.list_models(), e.g. \'vit_base_patch16_224.augreg_in21k\')')
    module = timm.models.model_entrypoint(model_name).__module__
    if module not in SUPPORTED_MODULES:
        raise ValueError(f'timm model {model_name!r} is defined in {module}; AdaLAViT takes timm\'s '
                         f'{" and ".join(SUPPORTED_MODULES.values())} models (ViT blocks whose attention it replaces)')
    return ViTArch(name)


def build_timm_vit(arch: ViTArch, **kwargs):
    """timm's model of `arch` for inputs of any size, without its classifier or pooling.

    Pooling heads (SigLIP's attention pooling) summarise the image for retrieval; a dense
    backbone has no use for them, and their checkpoint weights are ignored on load.
    """
    return timm.create_model(arch.model_name, pretrained=False, num_classes=0, global_pool='',
                             dynamic_img_size=True, **kwargs)


def with_backbone_normalisation(data_preprocessor: Optional[dict], backbone: dict) -> Optional[dict]:
    """`data_preprocessor` with the mean/std of an AdaLAViT `backbone` config where it sets none.

    Each model was trained with its own normalisation (CLIP's mean/std are not ImageNet's,
    SigLIP's are 0.5), so configs leave mean/std out and a config that only changes the arch
    gets the right one. A mean/std set explicitly is kept, with a warning if it is not the arch's.
    """
    backbone_type = backbone.get('type')
    if data_preprocessor is None or getattr(backbone_type, '__name__', backbone_type) != 'AdaLAViT':
        return data_preprocessor
    arch = backbone.get('arch', DEFAULT_ARCH)
    normalisation = resolve_arch(arch).normalisation
    given = {key: data_preprocessor.get(key) for key in normalisation}
    if all(value is None for value in given.values()):
        return {**data_preprocessor, **normalisation}
    if any(list(given[key] or []) != normalisation[key] for key in normalisation):
        MMLogger.get_current_instance().warning(
            f'data_preprocessor mean/std {given} are not the normalisation of arch {arch!r} {normalisation}; '
            'leave them out of the config to use the arch\'s')
    return data_preprocessor
