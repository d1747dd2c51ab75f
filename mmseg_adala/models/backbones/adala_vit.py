"""AdaLAViT: a timm ViT (DINOv2, DINOv3, CLIP, SigLIP, ...) with softmax or linear attention per
layer, as an MMSeg backbone."""
import math
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from timm.models.vision_transformer import VisionTransformer

from ..attention import LINEAR_ATTN_TYPES, AdaLAAttention
from .attention_settings import attention_settings
from .local_concentration_block import LocalConcentrationBlock
from .vit_archs import DEFAULT_ARCH, build_timm_vit, resolve_arch
from .vit_checkpoint import load_vit_checkpoint

# DINOv2's `interpolate_offset`: it samples the grid at a scale factor of (size + 0.1) / M
# rather than at an output size (a kludge from DINO kept for compatibility, dino issue #8).
DINOV2_INTERPOLATE_OFFSET = 0.1


class NonFiniteInputError(ValueError):
    """The input holds NaN or inf: through attention one such value makes every output NaN."""


class InputTooSmallError(ValueError):
    """The input gives fewer patches per side than the modules after the backbone need (`min_grid`)."""


def interpolate_dinov2_pos_embed(pos_embed: torch.Tensor, grid_size: Tuple[int, int],
                                 num_prefix_tokens: int) -> torch.Tensor:
    """Position embeddings for a `grid_size` patch grid, interpolated as DINOv2's own code does.

    DINOv2's `interpolate_pos_encoding`: bicubic, without antialiasing (the released models
    set `interpolate_antialias=False`), at a scale factor of (size + 0.1) / M. timm resamples
    to an output size with antialiasing instead, which moves DINOv2-L's final features by
    up to ~5% at 448 px: the released weights were trained and evaluated DINOv2's way.

    Args:
        pos_embed: (1, num_prefix_tokens + M * M, C), the weights' square M x M grid.
        grid_size: (rows, columns) of the input's patch grid.
        num_prefix_tokens: Leading entries that belong to prefix tokens (kept as they are).
    """
    prefix, patches = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    side = math.isqrt(patches.shape[1])
    if tuple(grid_size) == (side, side):
        return pos_embed
    dim = patches.shape[-1]
    scale = tuple((size + DINOV2_INTERPOLATE_OFFSET) / side for size in grid_size)
    patches = patches.float().reshape(1, side, side, dim).permute(0, 3, 1, 2)
    patches = F.interpolate(patches, scale_factor=scale, mode='bicubic', antialias=False)
    patches = patches.permute(0, 2, 3, 1).reshape(1, -1, dim).to(pos_embed.dtype)
    return torch.cat([prefix, patches], dim=1)


class DINOv2VisionTransformer(VisionTransformer):
    """timm's `VisionTransformer` with DINOv2's interpolation of the position embeddings.

    Only the position-embedding step differs (see `interpolate_dinov2_pos_embed`); at the
    weights' own grid both are the same model. timm's registry builds its DINOv2 models as
    `VisionTransformer`, so `specialise` turns such an instance into this class.
    """

    @classmethod
    def specialise(cls, vit: VisionTransformer) -> 'DINOv2VisionTransformer':
        vit.__class__ = cls
        return vit

    def _pos_embed(self, x: torch.Tensor) -> torch.Tensor:
        batch, rows, columns, dim = x.shape  # NHWC patch tokens (timm's dynamic_img_size)
        pos_embed = interpolate_dinov2_pos_embed(
            self.pos_embed, (rows, columns), 0 if self.no_embed_class else self.num_prefix_tokens)
        x = x.reshape(batch, rows * columns, dim)
        prefix = [token.expand(batch, -1, -1) for token in (self.cls_token, self.reg_token) if token is not None]
        if self.no_embed_class:  # with registers: the cls token's embedding is folded into it on load
            x = torch.cat([*prefix, x + pos_embed], dim=1)
        else:
            x = torch.cat([*prefix, x], dim=1) + pos_embed
        return self.pos_drop(x)


@MODELS.register_module()
class AdaLAViT(BaseModule):
    """A pretrained ViT whose attention is softmax or linear (ViT-AdaLA), per layer.

    The network is timm's own model (`VisionTransformer`, or `Eva` for DINOv3's rotary
    embeddings), so all-softmax equals timm's model; DINOv2 models interpolate their position
    embeddings as DINOv2's code does. Each block's `attn` is an `AdaLAAttention` with timm's
    parameter names. Inputs of any size are resized to whole patches (see
    `_to_whole_patches`), so the feature grid spans exactly the image.

    Args:
        arch: A short name of `vit_archs.ARCHS` ('dinov2_vitl14', 'dinov2_vitl14_reg',
            'dinov3_vitl16', 'clip_vitl14', 'siglip_vitl16', 'in21k_vitl16', ...) or any timm
            ViT name with its pretrained tag ('vit_base_patch16_clip_224.openai'). The arch also
            fixes the input normalisation (`ViTArch.normalisation`).
        attn_type: 'softmax', 'linear', 'none' (attention removed: a control), 'window',
            'window_linear' (see `AdaLAAttention`), or one per layer. With `feature_map`,
            `attn_cfg` and `block_local_concentration`, the attention settings that every stage
            takes and every stage export records (`attention_settings`).
        feature_map: Linear attention's feature map ('elu', 'relu', 'focused', 'hedgehog').
        attn_cfg: Further `AdaLAAttention` arguments (`feature_map_cfg`, `value_conv`,
            `local_concentration`, `eps`, `window_size`).
        block_local_concentration: L2ViT's local concentration branch in every block with a
            linear kernel (`LocalConcentrationBlock`); trained in stage 2, not stage 1.
        out_indices: Blocks whose outputs are returned (negative counts from the end).
        with_cls_token: Return `(feature_map, cls_token)` pairs instead of maps (not for models
            without a class token, such as SigLIP).
        final_norm: Apply the final LayerNorm to the returned features (as DINOv2 does).
        min_grid: Fewest patches per side that the modules after the backbone need: MMSeg's
            MultiLevelNeck at scale 0.5 halves the grid and fails on a 1-patch side, so UperNet
            configs set 2. Smaller inputs raise `InputTooSmallError` with the minimum in pixels.
        img_size: Side of the position-embedding grid in pixels: the checkpoint's own (default:
            the arch's, e.g. 518 for DINOv2, 224 for CLIP). Loading weights of another grid fails
            (they would be resampled at load and again at run time); inputs of any size
            interpolate the grid at run time.
        drop_path_rate: Stochastic depth.
        frozen_blocks: Freeze the patch/position embeddings and the first k blocks; 'all'
            freezes everything (linear probing).
        with_cp: Gradient checkpointing of the blocks (less memory, more compute).
        vit_cfg: Overrides of the timm model's arguments (e.g. a tiny `embed_dim`/`depth` for tests).
        init_cfg: `dict(type='Pretrained', checkpoint=PATH, strict=True)`: the official release,
            timm's, open_clip's or stage-export weights (`vit_checkpoint`). A stage export's
            `meta` must describe this backbone (`variant`: `arch` and the attention settings).
    """

    def __init__(self,
                 arch: str = DEFAULT_ARCH,
                 attn_type: Union[str, Sequence[str]] = 'linear',
                 feature_map: str = 'elu',
                 attn_cfg: Optional[dict] = None,
                 block_local_concentration: bool = False,
                 out_indices: Sequence[int] = (-1,),
                 with_cls_token: bool = False,
                 final_norm: bool = True,
                 min_grid: int = 1,
                 img_size: Optional[int] = None,
                 drop_path_rate: float = 0.,
                 frozen_blocks: Union[int, str] = 0,
                 with_cp: bool = False,
                 vit_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.arch = arch
        vit_arch = resolve_arch(arch)
        self.vit = build_timm_vit(vit_arch, img_size=img_size or vit_arch.img_size, drop_path_rate=drop_path_rate,
                                  **(vit_cfg or {}))
        if vit_arch.dinov2_interpolation:
            DINOv2VisionTransformer.specialise(self.vit)
        if with_cls_token and self.vit.cls_token is None:
            raise ValueError(f'arch {arch!r} has no class token: set with_cls_token=False')
        # What a stage export records in its meta, and what loading one checks (`attention_settings`).
        self.variant = dict(arch=arch, **attention_settings(
            dict(attn_type=attn_type, feature_map=feature_map, attn_cfg=attn_cfg,
                 block_local_concentration=block_local_concentration), depth=len(self.vit.blocks)))
        self.attn_types = self.variant['attn_type']
        for block, layer_type in zip(self.vit.blocks, self.attn_types):
            block.attn = AdaLAAttention.from_timm(
                block.attn, attn_type=layer_type, feature_map=feature_map,
                num_prefix_tokens=self.vit.num_prefix_tokens, **self.variant['attn_cfg'])
            if block_local_concentration and layer_type in LINEAR_ATTN_TYPES:
                LocalConcentrationBlock.specialise(block)
        self.vit.set_grad_checkpointing(with_cp)

        depth = len(self.vit.blocks)
        self.out_indices = [i % depth for i in out_indices]
        if any(not -depth <= i < depth for i in out_indices):
            raise ValueError(f'out_indices {list(out_indices)} out of range for {depth} blocks')
        self.with_cls_token = with_cls_token
        self.final_norm = final_norm
        self.min_grid = min_grid
        self.embed_dim = self.vit.embed_dim
        self.patch_size = self.vit.patch_embed.patch_size[0]
        self.frozen_blocks = depth if frozen_blocks == 'all' else frozen_blocks
        self._freeze(freeze_norm=frozen_blocks == 'all')

    def _freeze(self, freeze_norm: bool) -> None:
        if self.frozen_blocks <= 0:
            return
        vit = self.vit
        frozen = [vit.patch_embed, *vit.blocks[:self.frozen_blocks]]
        if freeze_norm:
            frozen.append(vit.norm)
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False
        for name in ('cls_token', 'reg_token', 'pos_embed'):
            param = getattr(vit, name, None)
            if param is not None:
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'AdaLAViT':
        super().train(mode)
        self._freeze(freeze_norm=self.frozen_blocks >= len(self.vit.blocks))
        return self

    def init_weights(self) -> None:
        # mmengine's Pretrained init cannot convert the official DINOv2 layout: use our loader.
        if self.init_cfg and self.init_cfg.get('type') == 'Pretrained':
            load_vit_checkpoint(self.vit, self.init_cfg['checkpoint'], strict=self.init_cfg.get('strict', True),
                                variant=self.variant)
            self._is_init = True
        else:
            super().init_weights()

    def _check_input(self, x: torch.Tensor) -> None:
        """Refuse inputs that would fail later without a clear message, or give NaN everywhere.

        The finiteness test is one pass over the input: at 4096x4096 px, 0.3 s on one CPU core
        against 1.5 s for ViT-L's patch embedding alone. Its answer waits for the GPU, as the
        loss logging does every iteration anyway. The counts are only taken when it fails.
        """
        channels = self.vit.patch_embed.proj.in_channels
        shape = tuple(x.shape)
        if x.dim() != 4 or x.shape[1] != channels:
            raise ValueError(f'AdaLAViT takes (B, {channels}, H, W) images, got shape {shape}')
        if x.is_floating_point() and not torch.isfinite(x).all():
            nan, inf = int(x.isnan().sum()), int(x.isinf().sum())
            images = torch.nonzero(~torch.isfinite(x).flatten(1).all(1)).flatten().tolist()
            raise NonFiniteInputError(
                f'AdaLAViT input of shape {shape} holds {nan} NaN and {inf} inf values (in images {images} of '
                'the batch); one such value makes every output NaN. Check the image files (a float image with '
                'NaN or inf pixels) and the preprocessing (a zero std in the data preprocessor)')
        smallest = (self.min_grid - 1) * self.patch_size + 1
        if min(x.shape[-2:]) < smallest:
            raise InputTooSmallError(
                f'AdaLAViT input of {shape[2]}x{shape[3]} px (shape {shape}) is too small for this model: it '
                f'needs at least {smallest} px per side ({self.min_grid} patches of {self.patch_size} px, the '
                'backbone\'s min_grid). Scale the image up (a Resize in the pipeline, tools/infer.py --scale)')

    def patch_grid(self, image_size: Sequence[int]) -> Tuple[int, int]:
        """(rows, columns) of the patch grid of an (H, W) image: whole patches, rounded up."""
        return tuple(math.ceil(s / self.patch_size) for s in image_size)

    def _to_whole_patches(self, x: torch.Tensor) -> torch.Tensor:
        """Check the input, resize it up to whole patches and tell the attention layers its grid.

        Bilinear, align_corners=False, to the next multiple of the patch size per side (512 ->
        518). The patch grid then spans exactly the image, so MMSeg's own resizing of the
        logits to the image (align_corners=False) puts every prediction back on its pixels in
        training, whole and slide inference. Padding instead would reach past the image, and
        predictions would drift by up to half the padding towards the far edges.
        """
        self._check_input(x)
        grid = self.patch_grid(x.shape[-2:])
        for block in self.vit.blocks:
            block.attn.grid_size = grid
        size = tuple(g * self.patch_size for g in grid)
        if size == tuple(x.shape[-2:]):
            return x
        return F.interpolate(x, size=size, mode='bilinear', align_corners=False)

    def forward(self, x: torch.Tensor) -> tuple:
        x = self._to_whole_patches(x)
        outs = self.vit.forward_intermediates(
            x, indices=self.out_indices, norm=self.final_norm, intermediates_only=True,
            return_prefix_tokens=self.with_cls_token)
        if self.with_cls_token:
            outs = [(spatial, prefix[:, 0]) for spatial, prefix in outs]
        return tuple(outs)

    def forward_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """All final-layer tokens after the final norm (prefix tokens first): stage 2's target."""
        return self.vit.forward_features(self._to_whole_patches(x))

    def export_state_dict(self) -> Dict[str, torch.Tensor]:
        """The weights in timm's layout, which `init_cfg` (and timm) load back."""
        return {k: v.detach().clone() for k, v in self.vit.state_dict().items()}
