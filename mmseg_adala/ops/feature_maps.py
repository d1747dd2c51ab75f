"""Feature maps phi for linear attention, applied per head to (B, H, N, d) tensors.

Every map is an ``nn.Module`` built as ``cls(num_heads, head_dim, **kwargs)`` -- even the
parameter-free ones -- so an attention layer owns (and moves, casts, saves) one uniformly.
All outputs are non-negative, which keeps the linear-attention normaliser positive. Maps are
token-wise: a token's features depend on that token alone (so the kernels may chunk tokens).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _ParameterFreeMap(nn.Module):
    """Base of the maps that need no shape: it accepts (and ignores) it for a uniform build."""

    def __init__(self, num_heads: int | None = None, head_dim: int | None = None) -> None:
        super().__init__()


class _EluPlusOne(torch.autograd.Function):
    """ELU + 1 as exp(x) for x <= 0 and x + 1 above; its derivative is min(phi, 1), so the
    backward keeps the output alone (which the attention keeps anyway), not the input too."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        # exp of the clamped x: exp of a large discarded x would be inf
        phi = torch.where(x > 0, x + 1, x.clamp(max=0).exp())
        ctx.save_for_backward(phi)
        return phi

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        phi, = ctx.saved_tensors
        return grad * phi.clamp(max=1)


class EluFeatureMap(_ParameterFreeMap):
    """phi(x) = ELU(x) + 1 (Katharopoulos et al., 2020): smooth, strictly positive; the paper's default.

    Computed as exp(x) for x <= 0 and x + 1 above, never as ``F.elu(x) + 1``: expm1(x) + 1
    cancels in the negative tail (bf16: elu(-8) + 1 == 0; float32 below -17), where phi then
    loses its relative precision or becomes 0, and the normaliser of a query whose channels
    are all strongly negative collapses to eps (flash-linear-attention issue 1261: gradients of
    ~3e6). q and k of real checkpoints (DINOv2-L) reach magnitudes of 30.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and x.requires_grad:
            return _EluPlusOne.apply(x)
        # The same function in place, one tensor less; on CPU also about 30% faster than ELU's expm1.
        return x.clamp(max=0).exp_().add_(x.clamp(min=0))


class ReluFeatureMap(_ParameterFreeMap):
    """phi(x) = ReLU(x): sparse and cheap, but a row can map to all zeros."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x)


class FocusedFeatureMap(nn.Module):
    """FLatten Transformer's focusing function (Han et al., ICCV 2023), over all channels.

    With x = ReLU(x) + eps and then x / softplus(s) (a learned per-channel scale s, FLatten's
    ``self.scale``, shared by queries and keys), phi(x) = ||x|| / ||x**p|| * x**p: raising
    to a power p sharpens the attention distribution towards the dominant directions while
    the rescaling keeps the norm of x. As in FLatten's code, the norms run over the whole
    token (all heads' channels, i.e. over H and d of a (B, H, N, d) tensor), before the
    split into heads: a head whose channels are small next to the others' stays small.
    s starts at 0, a uniform scale 1 / ln 2 that cancels in the attention's normalisation.

    The map is positively homogeneous per token (phi(c x) = c phi(x)), so it is evaluated on
    y = x / max(x): y**p then lies in (0, 1] with a 1 in every token, so ||y**p|| >= 1 and
    neither 0/0 (underflow of tiny x**p) nor fp16 overflow (large x**p) can occur.

    Args:
        num_heads: number of heads H.
        head_dim: per-head dimension d.
        power: focusing exponent p (FLatten uses 3).
        eps: added after the ReLU so that all-negative tokens stay non-zero.
    """

    def __init__(self, num_heads: int, head_dim: int, power: float = 3, eps: float = 1e-6) -> None:
        super().__init__()
        self.power = power
        self.eps = eps
        self.scale = nn.Parameter(torch.zeros(num_heads, 1, head_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = (-3, -1)  # heads and head_dim of (B, H, N, d)
        x = (F.relu(x) + self.eps) / F.softplus(self.scale).to(x.dtype)
        y = (x / x.amax(dim=channels, keepdim=True)) ** self.power
        return y * (torch.linalg.vector_norm(x, dim=channels, keepdim=True)
                    / torch.linalg.vector_norm(y, dim=channels, keepdim=True))


class HedgehogFeatureMap(nn.Module):
    """Hedgehog's learned map (Zhang et al., ICLR 2024), output dimension 2d.

    phi(x) = [softmax(x W_h + b_h), softmax(-(x W_h + b_h))] with one d x d matrix and bias
    per head (the layout of HazyResearch/lolcats' ``FeatureMapMLP`` + ``SoftmaxDim``; the
    bias is that of Hedgehog's own ``nn.Linear``). The softmaxes give the spiky, monotonic
    weights that softmax attention has. Queries and keys get a map each (`SEPARATE_KEY_MAPS`).
    W starts at the identity and b at zero, so training starts from the untrained map
    [softmax(x), softmax(-x)] rather than from noise.

    Args:
        num_heads: number of heads H (one W per head).
        head_dim: per-head dimension d.
        bias: whether to learn the per-head bias b.
    """

    def __init__(self, num_heads: int, head_dim: int, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.eye(head_dim).repeat(num_heads, 1, 1))
        self.bias = nn.Parameter(torch.zeros(num_heads, 1, head_dim)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # In x's dtype: linear_attention maps float32 q, k even when the model is in bf16.
        x = torch.matmul(x, self.weight.to(x.dtype))  # (B, H, N, d) @ (H, d, d), broadcast over B
        if self.bias is not None:
            x = x + self.bias.to(x.dtype)
        return torch.cat([x.softmax(dim=-1), (-x).softmax(dim=-1)], dim=-1)


FEATURE_MAPS: dict[str, type[nn.Module]] = {
    'elu': EluFeatureMap,
    'relu': ReluFeatureMap,
    'focused': FocusedFeatureMap,
    'hedgehog': HedgehogFeatureMap,
}
# Maps learned once for the queries and once for the keys (Hedgehog's and LoLCATs' reference
# code train `feature_map_q` and `feature_map_k`); the others map both with one module.
SEPARATE_KEY_MAPS = ('hedgehog',)


def build_feature_map(name: str, num_heads: int, head_dim: int, **kwargs) -> nn.Module:
    """Build the feature map registered as ``name`` (a key of FEATURE_MAPS).

    Args:
        name: one of 'elu', 'relu', 'focused', 'hedgehog'.
        num_heads: number of heads H of the attention layer.
        head_dim: per-head dimension d of q and k.
        **kwargs: passed to the map's constructor (e.g. ``power`` or ``bias``).

    Raises:
        ValueError: if ``name`` is not registered.
    """
    if name not in FEATURE_MAPS:
        raise ValueError(f'unknown feature map {name!r}; valid names: {sorted(FEATURE_MAPS)}')
    return FEATURE_MAPS[name](num_heads, head_dim, **kwargs)
