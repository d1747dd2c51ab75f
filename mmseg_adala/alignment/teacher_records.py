"""The softmax teacher's recorded attention inputs and outputs, and a student's distance from them.

Stage 1 trains on these records: it minimises each block's attention error on the teacher's
own block inputs; stage 2 the error of the final features. The same two measures serve the
stages' validation and the demo's ablation, so the numbers in its table are the quantities
the stages train on.
"""
from typing import Iterator, List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..models import AdaLAViT


def record_attention_io(backbone: AdaLAViT, images: torch.Tensor
                        ) -> Tuple[List[Tuple[torch.Tensor, dict, torch.Tensor]], torch.Tensor]:
    """(normed block input, other attention arguments, attention output) of every block of
    `backbone`, and its final tokens (after the final norm), from one forward without
    gradients. The other arguments carry DINOv3's rotary embeddings (`rope`)."""
    records = []
    hooks = [block.attn.register_forward_hook(
        lambda _, args, kwargs, out: records.append((args[0], kwargs, out)), with_kwargs=True)
        for block in backbone.vit.blocks]
    try:
        with torch.no_grad():
            tokens = backbone.forward_tokens(images)
    finally:
        for hook in hooks:
            hook.remove()
    return records, tokens


def relative_error(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per sample ||output - target||^2 / ||target||^2, in float32: (B,) tensor."""
    output, target = output.float(), target.float()
    error = (output - target).pow(2).flatten(1).sum(1)
    return error / target.pow(2).flatten(1).sum(1).clamp_min(1e-12)


def _on_teacher_inputs(attentions: Sequence[nn.Module], records: List[Tuple[torch.Tensor, dict, torch.Tensor]],
                       grid: Tuple[int, int]) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
    for attn, (block_input, kwargs, target) in zip(attentions, records):
        yield attn(block_input, grid_size=grid, **kwargs), target


def attention_outputs(teacher: AdaLAViT, attentions: Sequence[nn.Module],
                      images: torch.Tensor) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
    """(output of attentions[l], teacher's attention output) per block l, both on the teacher's
    own normed input of block l: stage 1's pairs, so errors do not compound over depth."""
    records, _ = record_attention_io(teacher, images)
    yield from _on_teacher_inputs(attentions, records, teacher.patch_grid(images.shape[-2:]))


class TeacherReference:
    """The teacher run once on fixed images, to score any number of students against it.

    Args:
        teacher: The softmax backbone.
        images: Normalised (B, 3, H, W) images, e.g. a held-out set.
    """

    def __init__(self, teacher: AdaLAViT, images: torch.Tensor) -> None:
        self.images = images
        self.records, tokens = record_attention_io(teacher, images)
        self.tokens = tokens.float()
        self.grid = teacher.patch_grid(images.shape[-2:])

    @torch.no_grad()
    def attention_errors(self, student: AdaLAViT) -> torch.Tensor:
        """(B, blocks) relative error of each student attention on the teacher's block inputs."""
        attentions = [block.attn for block in student.vit.blocks]
        return torch.stack([relative_error(output, target)
                            for output, target in _on_teacher_inputs(attentions, self.records, self.grid)], dim=1)

    @torch.no_grad()
    def feature_cosine(self, student: AdaLAViT) -> torch.Tensor:
        """(B,) cosine similarity of the final tokens (after the final norm), averaged over tokens."""
        return F.cosine_similarity(student.forward_tokens(self.images).float(), self.tokens, dim=-1).mean(dim=1)
