"""Self-attention with timm's parameter layout whose kernel is softmax or linear.

The parameter names (`qkv`, `q_norm`, `k_norm`, `norm`, `proj`) are those of
`timm.layers.Attention`, and with `qv_bias` (`q_bias`, `v_bias`) those of timm's
`EvaAttention` (DINOv3, EVA, BEiT), so a softmax checkpoint loads as-is and a linear layer
can be initialised from a softmax one by copying its state dict (stage 1 does exactly that).
"""
from functools import partial
from typing import Callable, Dict, Optional, Tuple, Type

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..ops import (SEPARATE_KEY_MAPS, apply_rope, build_feature_map, linear_attention, rotary_linear_attention,
                   softmax_attention, window_attention, window_linear_attention)
from .backbones.local_concentration_block import LocalConcentration

# The kernels with a linear part: they own a feature map and may add local concentration.
LINEAR_ATTN_TYPES = ('linear', 'window_linear')
# The kernels that work on the patch grid.
WINDOW_ATTN_TYPES = ('window', 'window_linear')
# Parameters that a softmax checkpoint lacks: they keep their (identity / zero) initialisation.
ADDED_PARAMETER_PREFIXES = ('feature_map.', 'key_map.', 'value_conv.', 'local_concentration.', 'window_factor')


class ValueConvolution(nn.Module):
    """FLatten's depthwise convolution on V (Han et al., ICCV 2023), added to the attention output.

    out_i = Attn_i + DWC(V)_i: linear attention's N x N map has rank at most d, and the
    convolution gives each token a full-rank local term. As in FLatten's code, one
    d-channel depthwise kernel serves all heads. Prefix tokens have no grid position and get
    no term. It starts at zero (FLatten trains from scratch; here it joins a pretrained
    layer), so the layer starts as the kernel alone; its gradient is non-zero from the start.

    Args:
        head_dim: Channels per head d.
        kernel_size: Depthwise kernel size (FLatten's 5).
    """

    def __init__(self, head_dim: int, kernel_size: int = 5) -> None:
        super().__init__()
        self.conv = nn.Conv2d(head_dim, head_dim, kernel_size, padding=kernel_size // 2, groups=head_dim)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, v: torch.Tensor, grid_size: Tuple[int, int], num_prefix_tokens: int) -> torch.Tensor:
        """The term to add to the attention output: (B, H, N, d), zero for the prefix tokens."""
        B, H, N, d = v.shape
        rows, cols = grid_size
        if N - num_prefix_tokens != rows * cols:
            raise ValueError(f'ValueConvolution got {N - num_prefix_tokens} patch tokens for a {rows}x{cols} grid: '
                             'grid_size must be the patch grid of this input')
        grid = v[:, :, num_prefix_tokens:].reshape(B * H, rows, cols, d).permute(0, 3, 1, 2)
        local = self.conv(grid).permute(0, 2, 3, 1).reshape(B, H, rows * cols, d)
        return F.pad(local, (0, 0, num_prefix_tokens, 0))


def _rotated(attn: 'AdaLAAttention', q: torch.Tensor, k: torch.Tensor,
             rope: Optional[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
    """q and k with the patch tokens rotated by `rope`, as `EvaAttention` does."""
    if rope is None:
        return q, k
    return tuple(apply_rope(t, rope, attn.rotate_half, attn.num_prefix_tokens) for t in (q, k))


def _softmax_kernel(attn: 'AdaLAAttention', q, k, v, rope, grid_size) -> torch.Tensor:
    q, k = _rotated(attn, q, k, rope)
    return softmax_attention(q, k, v, scale=attn.scale, dropout_p=attn.dropout_p)


def _linear_kernel(attn: 'AdaLAAttention', q, k, v, rope, grid_size) -> torch.Tensor:
    if rope is None:
        return linear_attention(q, k, v, feature_map=attn.feature_map, eps=attn.eps, key_map=attn.key_map)
    # RoFormer's form: the rotation acts on the feature maps of the numerator only.
    return rotary_linear_attention(q, k, v, rope, feature_map=attn.feature_map, eps=attn.eps, key_map=attn.key_map,
                                   rotate_half=attn.rotate_half, num_prefix_tokens=attn.num_prefix_tokens)


def _no_kernel(attn: 'AdaLAAttention', q, k, v, rope, grid_size) -> torch.Tensor:
    return v


def _window_kernel(attn: 'AdaLAAttention', q, k, v, rope, grid_size) -> torch.Tensor:
    q, k = _rotated(attn, q, k, rope)
    return window_attention(q, k, v, grid_size, attn.window_size, attn.num_prefix_tokens, scale=attn.scale,
                            dropout_p=attn.dropout_p)


def _window_linear_kernel(attn: 'AdaLAAttention', q, k, v, rope, grid_size) -> torch.Tensor:
    if rope is not None:
        raise NotImplementedError(
            "attn_type='window_linear' does not take rotary embeddings: its linear part (the keys "
            'outside each window) would need rotated statistics for the numerator and unrotated ones '
            "for the normaliser, which window_linear_attention does not keep; use 'linear' or 'window'")
    return window_linear_attention(q, k, v, grid_size, attn.window_size, attn.feature_map,
                                   window_factor=attn.window_factor.sigmoid(), num_prefix_tokens=attn.num_prefix_tokens,
                                   scale=attn.scale, key_map=attn.key_map)


# The kernels by `attn_type`: each maps the layer and its per-head (B, heads, N, d) q, k, v, the
# rotary embedding (or None) and the patch grid to the attention output. 'none' removes the
# kernel: each token attends to itself only (out = proj(v)). It is the speed ceiling of any
# linear attention (the benchmark's `no_attention`), and the control that shows what attention
# contributes to a task (the demo's ablation). 'window' is softmax inside w x w windows of the
# patch grid (ViTDet, L2ViT's local window attention); 'window_linear' is LoLCATs' sum of window
# softmax and linear attention over the rest.
ATTENTION_KERNELS: Dict[str, Callable[..., torch.Tensor]] = {
    'softmax': _softmax_kernel,
    'linear': _linear_kernel,
    'none': _no_kernel,
    'window': _window_kernel,
    'window_linear': _window_linear_kernel,
}
ATTN_TYPES = tuple(ATTENTION_KERNELS)


class AdaLAAttention(nn.Module):
    """Multi-head self-attention, softmax, non-causal linear or local-window, with timm's parameters.

    A drop-in `attn_layer` for `timm.models.vision_transformer.VisionTransformer`, and a
    replacement of the `attn` of timm's `Eva` blocks (DINOv3), whose rotary embedding it
    applies as `EvaAttention` does (see `forward`).

    Args:
        dim: Token embedding dimension.
        num_heads: Number of attention heads.
        qkv_bias: Bias in the fused QKV projection (`qkv.bias`, timm's `Attention`).
        qv_bias: Eva's bias layout instead: learned `q_bias` and `v_bias` and a zero key bias
            (a buffer that checkpoints do not hold), under Eva's names so that its state
            dicts load unchanged.
        qk_norm: Normalise queries and keys per head with `norm_layer`.
        scale_norm: Normalise the attention output before the projection.
        proj_bias: Bias in the output projection.
        attn_drop: Attention dropout (softmax and window only; the others have no weights to drop).
        proj_drop: Dropout after the output projection.
        norm_layer: Norm constructor for `qk_norm` / `scale_norm`.
        attn_type: The kernel, by its name in `ATTENTION_KERNELS`: 'softmax', 'linear', 'none' (no
            kernel: out = proj(v)), 'window' (softmax in w x w windows) or 'window_linear'
            (LoLCATs: window softmax + linear attention outside).
        feature_map: Linear attention's feature map by name ('elu' is the paper's ELU+1). Maps
            of `SEPARATE_KEY_MAPS` ('hedgehog') are learned twice: `feature_map` for the
            queries and `key_map` for the keys.
        feature_map_cfg: Extra arguments of the feature map (e.g. `power` of 'focused').
        value_conv: Kernel size of FLatten's depthwise convolution on V (5 in FLatten), whose
            output over the patch grid is added to the attention's; 0 for none.
            With feature_map='focused' this is FLatten's focused linear attention.
        local_concentration: Add L2ViT's zero-initialised local concentration module inside the
            attention, where stage 1 trains it (L2ViT's own placement is the block: AdaLAViT's
            `block_local_concentration`).
        num_prefix_tokens: cls + register tokens, which bypass local concentration and attend
            globally in the window kernels.
        window_size: Side w, in patches, of the windows of 'window' and 'window_linear' (ViTDet's 14).
        init_window_factor: 'window_linear' weighs its softmax part by sigmoid of a learned
            per-head parameter, initialised to this (LoLCATs' default 0: a weight of 0.5).
        eps: Linear attention's denominator epsilon (on the mean-normalised sums).
        rotate_half: Layout of the rotary embedding passed to `forward`: timm's half rotation
            (DINOv3) instead of adjacent pairs (Eva's `rotate_half`).
    """

    def __init__(
            self,
            dim: int,
            num_heads: int = 8,
            qkv_bias: bool = False,
            qv_bias: bool = False,
            qk_norm: bool = False,
            scale_norm: bool = False,
            proj_bias: bool = True,
            attn_drop: float = 0.,
            proj_drop: float = 0.,
            norm_layer: Optional[Type[nn.Module]] = None,
            attn_type: str = 'linear',
            feature_map: str = 'elu',
            feature_map_cfg: Optional[dict] = None,
            value_conv: int = 0,
            local_concentration: bool = False,
            num_prefix_tokens: int = 1,
            window_size: int = 14,
            init_window_factor: float = 0.,
            eps: float = 1e-6,
            rotate_half: bool = False,
            device=None,
            dtype=None,
    ) -> None:
        super().__init__()
        if attn_type not in ATTN_TYPES:
            raise ValueError(f'attn_type must be one of {ATTN_TYPES}, got {attn_type!r}')
        if dim % num_heads:
            raise ValueError(f'dim {dim} is not divisible by num_heads {num_heads}')
        if qkv_bias and qv_bias:
            raise ValueError('qkv_bias and qv_bias are two layouts of the same bias: choose one')
        dd = dict(device=device, dtype=dtype)
        self.attn_type = attn_type
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.eps = eps
        self.num_prefix_tokens = num_prefix_tokens
        self.window_size = window_size
        self.rotate_half = rotate_half

        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias, **dd)
        if qv_bias:
            self.q_bias = nn.Parameter(torch.zeros(dim, **dd))
            self.register_buffer('k_bias', torch.zeros(dim, **dd), persistent=False)
            self.v_bias = nn.Parameter(torch.zeros(dim, **dd))
        else:
            self.q_bias = self.k_bias = self.v_bias = None
        self.q_norm = norm_layer(self.head_dim, **dd) if qk_norm else nn.Identity()
        self.k_norm = norm_layer(self.head_dim, **dd) if qk_norm else nn.Identity()
        self.attn_drop = attn_drop
        self.norm = norm_layer(dim, **dd) if scale_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim, bias=proj_bias, **dd)
        self.proj_drop = nn.Dropout(proj_drop)

        is_linear = attn_type in LINEAR_ATTN_TYPES
        self.feature_map = build_feature_map(
            feature_map, self.num_heads, self.head_dim, **(feature_map_cfg or {})) if is_linear else None
        self.key_map = build_feature_map(
            feature_map, self.num_heads, self.head_dim,
            **(feature_map_cfg or {})) if is_linear and feature_map in SEPARATE_KEY_MAPS else None
        self.value_conv = ValueConvolution(self.head_dim, value_conv) if is_linear and value_conv else None
        self.local_concentration = LocalConcentration(dim) if is_linear and local_concentration else None
        self.window_factor = nn.Parameter(
            torch.full((num_heads,), init_window_factor, **dd)) if attn_type == 'window_linear' else None
        self.needs_grid = (attn_type in WINDOW_ATTN_TYPES or self.value_conv is not None
                           or self.local_concentration is not None)
        # The patch grid of the current input, for calls that pass none (see `forward`).
        self.grid_size: Optional[Tuple[int, int]] = None

    @property
    def dropout_p(self) -> float:
        """The attention dropout of the current mode (none in evaluation)."""
        return self.attn_drop if self.training else 0.

    def forward(self, x: torch.Tensor, rope: Optional[torch.Tensor] = None,
                attn_mask: Optional[torch.Tensor] = None, is_causal: bool = False,
                grid_size: Optional[Tuple[int, int]] = None) -> torch.Tensor:
        """Attend over all tokens of x, (B, N, C).

        `rope` is the rotary embedding of the patch tokens that timm's `Eva` passes to its
        blocks, (..., N - num_prefix_tokens, 2 * head_dim), sin then cos. 'softmax' and
        'window' rotate the patch tokens' q and k with it, as `EvaAttention` does; 'linear'
        rotates the feature maps of the numerator only (`rotary_linear_attention`, RoFormer's
        form); 'none' has no scores to rotate and ignores it.

        `grid_size` is the (rows, columns) patch grid of the tokens after the prefix ones, which
        the window kernels, `value_conv` and `local_concentration` need. timm's blocks call
        attention with the tokens alone, so by default it is `self.grid_size`, the grid of the
        current input that the backbone (AdaLAViT) sets before each forward.
        """
        if attn_mask is not None or is_causal:
            raise NotImplementedError('AdaLAAttention is non-causal self-attention over all tokens: no masks')
        grid_size = self._grid(grid_size) if self.needs_grid else None
        B, N, C = x.shape
        qkv = self.qkv(x) if self.q_bias is None else F.linear(
            x, self.qkv.weight, torch.cat((self.q_bias, self.k_bias, self.v_bias)))
        q, k, v = qkv.reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)
        x = ATTENTION_KERNELS[self.attn_type](self, q, k, v, rope, grid_size)
        if self.value_conv is not None:
            x = x + self.value_conv(v, grid_size, self.num_prefix_tokens)
        x = x.transpose(1, 2).reshape(B, N, C)
        if self.local_concentration is not None:
            x = x + self.local_concentration(x, grid_size, self.num_prefix_tokens)
        return self.proj_drop(self.proj(self.norm(x)))

    def _grid(self, grid_size: Optional[Tuple[int, int]]) -> Tuple[int, int]:
        grid_size = grid_size or self.grid_size
        if grid_size is None:
            raise ValueError(f'attn_type={self.attn_type!r} needs the patch grid: pass grid_size, or set the '
                             'grid_size attribute before each forward as AdaLAViT does')
        return grid_size

    def extra_repr(self) -> str:
        window = f', window_size={self.window_size}' if self.attn_type.startswith('window') else ''
        return f'attn_type={self.attn_type!r}, num_heads={self.num_heads}{window}'

    @classmethod
    def from_timm(cls, attn: nn.Module, **kwargs) -> 'AdaLAAttention':
        """A copy of a timm `Attention` or `EvaAttention` (or of another AdaLAAttention) with its weights.

        Keyword arguments choose the new kernel, e.g. `attn_type='linear', feature_map='elu'`.
        Parameters that exist only in the new module (learned feature map, local concentration)
        keep their initialisation. Eva's `q_bias` / `v_bias` carry over as `qv_bias`, and its
        `rotate_half` and `num_prefix_tokens` are the copy's unless given. Eva's unfused q/k/v
        projections and gated output have no counterpart here: they raise ValueError.
        """
        if getattr(attn, 'qkv', None) is None:
            raise ValueError(f'{type(attn).__name__} has separate q_proj/k_proj/v_proj (qkv_fused=False): '
                             'AdaLAAttention copies a fused qkv projection only')
        if getattr(attn, 'gate', None) is not None:
            raise ValueError(f'{type(attn).__name__} has a gated output (gated=True), which AdaLAAttention lacks')
        dim = attn.qkv.in_features
        if attn.qkv.out_features != 3 * dim:
            raise ValueError(f'{type(attn).__name__} has attention width {attn.qkv.out_features // 3} != dim {dim}: '
                             'AdaLAAttention needs head_dim = dim // num_heads')
        for name in ('rotate_half', 'num_prefix_tokens'):
            if hasattr(attn, name):
                kwargs.setdefault(name, getattr(attn, name))
        norm = attn.q_norm if not isinstance(attn.q_norm, nn.Identity) else None
        scale_norm = attn.norm if not isinstance(attn.norm, nn.Identity) else None
        new = cls(dim, num_heads=attn.num_heads, qkv_bias=attn.qkv.bias is not None,
                  qv_bias=getattr(attn, 'q_bias', None) is not None,
                  qk_norm=norm is not None, scale_norm=scale_norm is not None,
                  proj_bias=attn.proj.bias is not None, norm_layer=_norm_layer(norm or scale_norm), **kwargs)
        new.to(device=attn.qkv.weight.device, dtype=attn.qkv.weight.dtype)
        new.load_attention_weights(attn)
        return new

    def load_attention_weights(self, attn: nn.Module) -> None:
        """Copy the weights of `attn` (a timm `Attention` or an AdaLAAttention) into this layer.

        Strict, apart from the parameters that only this layer has (learned feature map, local
        concentration), which keep their initialisation.
        """
        missing, unexpected = self.load_state_dict(attn.state_dict(), strict=False)
        missing = [key for key in missing if not key.startswith(ADDED_PARAMETER_PREFIXES)]
        if missing or unexpected:
            raise KeyError(f'cannot copy attention weights: missing {missing}, unexpected {unexpected}')


def _norm_layer(norm: Optional[nn.Module]) -> Optional[Callable[..., nn.Module]]:
    """The constructor of `norm` with its eps (timm builds LayerNorms with a non-default eps)."""
    if norm is None:
        return None
    return partial(type(norm), eps=norm.eps) if hasattr(norm, 'eps') else type(norm)
