"""Is the tiled neck + head exact on a full-size segmentor? Tiled against untiled logits of one image.

The tests check exactness on tiny models; this runs the same comparison on a paper-size model
(DINOv2-L UperNet at 1022 px takes a few CPU minutes), where a halo too narrow for a deeper
stack of convolutions or a resize rounding at a larger size would show. The backbone runs
once; its features go through the neck and head whole and in tiles.
"""
from typing import Optional

import torch

from .variants import build_segmentor


def compare_head_tiling(config: str, arch: str, size: int, head_tile: int, variant: str = 'linear',
                        vit_cfg: Optional[dict] = None, seed: int = 0) -> dict:
    """Max difference and argmax agreement of the untiled and `head_tile`-px tiled logits.

    Random weights (those of `build_segmentor`, BN statistics randomised so the head's
    normalisation is not the identity) and a random normalised `size` x `size` image.
    """
    torch.manual_seed(seed)
    segmentor = build_segmentor(config, variant, arch, vit_cfg, head_tile=0).eval()
    for module in segmentor.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2)
    image = torch.randn(1, 3, size, size)
    with torch.inference_mode():
        feats = segmentor.backbone(image)
        whole = segmentor.head_logits(feats, size, None)
        tiled = segmentor.head_logits(feats, size, head_tile)
    difference = (tiled - whole).abs().max().item()
    return dict(arch=arch, variant=variant, size=size, head_tile=head_tile, logits_shape=list(whole.shape),
                max_abs_difference=difference, max_relative_difference=difference / whole.abs().max().item(),
                argmax_identical_fraction=(tiled.argmax(1) == whole.argmax(1)).float().mean().item())
