"""L2ViT's local concentration module, and its linear global attention block: timm's ViT block
with a local concentration branch."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.models.vision_transformer import Block

# The parameters this block adds to timm's, which no softmax checkpoint has: they keep their
# initialisation on load (the branch starts at zero).
BLOCK_ADDED_PARAMETER_PREFIXES = ('lcm_norm.', 'lcm.')


class LocalConcentration(nn.Module):
    """L2ViT's local concentration module, LCM (Zheng et al., arXiv 2501.16182).

    Linear attention spreads its weight over all tokens; two depthwise convolutions over the
    patch grid give back the local detail: LCM(x) = DWConv(BN(GELU(DWConv(x)))), in that
    order (L2ViT's ``LCM``), returned as a branch for the caller to add. The second
    convolution starts at zero, so adding the branch to a trained model changes nothing
    until it is trained. Prefix tokens (cls, registers) have no grid position: their branch
    is zero.

    L2ViT places it in the block, ``x + LCM(norm(x))`` after the attention's residual
    (`LocalConcentrationBlock`). AdaLAAttention's `local_concentration` places it inside the
    attention instead, ``proj(a + LCM(a))`` for the kernel's output a: stage 1 aligns
    attention outputs only, so only there is it trained against the softmax teacher in stage 1.

    Args:
        dim: Channels.
        kernel_size: Depthwise kernel size (L2ViT's 7).
    """

    def __init__(self, dim: int, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.act = nn.GELU()
        self.bn = nn.BatchNorm2d(dim)
        self.conv2 = nn.Conv2d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor, grid_size: Tuple[int, int], num_prefix_tokens: int) -> torch.Tensor:
        B, N, C = x.shape
        H, W = grid_size
        if N - num_prefix_tokens != H * W:
            raise ValueError(f'LocalConcentration got {N - num_prefix_tokens} patch tokens for a {H}x{W} grid: '
                             'grid_size must be the patch grid of this input')
        grid = x[:, num_prefix_tokens:].transpose(1, 2).reshape(B, C, H, W)
        local = self.conv2(self.bn(self.act(self.conv1(grid))))
        return F.pad(local.flatten(2).transpose(1, 2), (0, 0, num_prefix_tokens, 0))


class LocalConcentrationBlock(Block):
    """timm's `Block` with L2ViT's local concentration branch between attention and MLP.

    L2ViT's ``LGABlock`` (Zheng et al., arXiv 2501.16182; classification/models/l2vit.py of
    its code): x = x + Attn(norm1(x)), then x = x + LCM(lcm_norm(x)), then
    x = x + MLP(norm2(x)), with drop path on each branch
    and without LayerScale on the new one (L2ViT has none). `lcm_norm` is a LayerNorm like
    norm1; the LCM's last convolution starts at zero, so a trained softmax (or stage-1)
    block is unchanged until the branch is trained. It is not part of the attention, so
    stage 1 (which aligns attention outputs) leaves it out; stage 2 trains it with the rest.
    The patch grid and prefix-token count are the attention's (`AdaLAAttention.grid_size`,
    which the backbone sets for each input: timm's blocks pass the tokens alone).

    timm builds the blocks; `specialise` turns one into this class in place, so its
    parameter names (and a checkpoint's) stay timm's.
    """

    @classmethod
    def specialise(cls, block: Block, kernel_size: int = 7) -> 'LocalConcentrationBlock':
        if not isinstance(block, Block):
            raise ValueError(f'block_local_concentration takes timm\'s ViT blocks (`Block`), not {type(block).__name__} '
                             '(DINOv3\'s Eva blocks): use attn_cfg=dict(local_concentration=True) instead')
        dim = block.norm1.normalized_shape[0]
        block.__class__ = cls
        block.lcm_norm = type(block.norm1)(dim, eps=block.norm1.eps)
        block.lcm = LocalConcentration(dim, kernel_size)
        block.to(device=block.norm1.weight.device, dtype=block.norm1.weight.dtype)
        return block

    def forward(self, x: torch.Tensor, attn_mask: Optional[torch.Tensor] = None,
                is_causal: bool = False) -> torch.Tensor:
        x = x + self.drop_path1(self.ls1(self.attn(self.norm1(x), attn_mask=attn_mask, is_causal=is_causal)))
        x = x + self.drop_path1(self.lcm(self.lcm_norm(x), self.attn.grid_size, self.attn.num_prefix_tokens))
        return x + self.drop_path2(self.ls2(self.mlp(self.norm2(x))))
