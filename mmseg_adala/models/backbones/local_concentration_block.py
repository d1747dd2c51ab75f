"""L2ViT's linear global attention block: timm's ViT block with a local concentration branch."""
from typing import Optional

import torch
from timm.models.vision_transformer import Block

from ..attention import LocalConcentration

# The parameters this block adds to timm's, which no softmax checkpoint has: they keep their
# initialisation on load (the branch starts at zero).
BLOCK_ADDED_PARAMETER_PREFIXES = ('lcm_norm.', 'lcm.')


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
    set by the backbone before each forward).

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
        x = x + self.drop_path1(self.lcm(self.lcm_norm(x), self.attn._grid(), self.attn.num_prefix_tokens))
        return x + self.drop_path2(self.ls2(self.mlp(self.norm2(x))))
