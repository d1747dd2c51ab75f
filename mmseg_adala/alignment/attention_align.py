"""Stage 1, attention alignment: each linear attention learns to mimic its softmax block."""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS

from ..models import AdaLAAttention
from ..models.attention import ADDED_PARAMETER_PREFIXES
from ..models.backbones.attention_settings import attention_settings
from .teacher_records import attention_outputs, relative_error
from .teacher_student import TeacherStudentModel

# What stage 1 trains in each linear attention: the Q/K/V path and the variant's own
# parameters. The output projection stays the teacher's, so the aligned attentions drop
# into the teacher's blocks in stage 2. L2ViT's block-level branch (`LocalConcentrationBlock`)
# lies outside the attention: stage 2 trains it, from zero.
TRAINED_PREFIXES = ('qkv.', 'q_norm.', 'k_norm.') + ADDED_PARAMETER_PREFIXES


@MODELS.register_module()
class AttentionAlignModel(TeacherStudentModel):
    """A frozen softmax ViT and, for every block, a linear copy of its attention.

    One teacher forward per batch records every block's normed input and softmax attention
    output; each linear attention gets the teacher's own input, so all blocks train in
    parallel and errors do not compound (that is stage 2's job). The loss compares the
    outputs after the output projection and before LayerScale: DINOv2's LayerScale values
    are ~1e-5..1e-1 and differ per channel, so after it the loss would weigh channels by
    the teacher's learned scale rather than by the attention's own error.

    Args:
        teacher: Config of the softmax `AdaLAViT` with its pretrained weights.
        student: The attention of the copies, in AdaLAViT's terms (`attention_settings`):
            `attn_type` (default 'linear', or one per block), `feature_map` (default 'elu', the
            paper's ELU+1) and `attn_cfg`, e.g. `dict(feature_map='hedgehog',
            attn_cfg=dict(local_concentration=True))`. The export records them as stage 2's
            AdaLAViT does (`variant`), where they build its student.
        trainable: Name prefixes, inside each attention, of the parameters that train (default
            `TRAINED_PREFIXES`). LoLCATs' attention transfer keeps the model's own weights
            frozen and trains its feature maps and window factors only:
            `('feature_map.', 'key_map.', 'window_factor')`.
        data_preprocessor: Image normalisation.
    """

    def __init__(self, teacher: dict, student: Optional[dict] = None, trainable: Optional[Sequence[str]] = None,
                 data_preprocessor: Optional[dict] = None, init_cfg: Optional[dict] = None) -> None:
        super().__init__(teacher, data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        unknown = set(student or {}) - {'attn_type', 'feature_map', 'attn_cfg'}
        if unknown:
            raise ValueError(f'stage 1\'s student takes attn_type, feature_map and attn_cfg (AdaLAViT\'s attention '
                             f'arguments), not {sorted(unknown)}; the blocks\' local concentration '
                             '(block_local_concentration) lies outside the attentions and trains in stage 2')
        self.student_settings = attention_settings(student or {}, depth=len(self.teacher.vit.blocks))
        self.trainable = TRAINED_PREFIXES if trainable is None else tuple(trainable)
        self.student_attns = nn.ModuleList(self._linear_copies())
        if not any(p.requires_grad for p in self.student_attns.parameters()):
            raise ValueError(f'trainable={list(self.trainable)} matches no parameter of the student attentions '
                             f'(their names: {sorted({n for n, _ in self.student_attns[0].named_parameters()})})')

    def _linear_copies(self) -> List[AdaLAAttention]:
        vit, settings = self.teacher.vit, self.student_settings
        copies = [AdaLAAttention.from_timm(block.attn, num_prefix_tokens=vit.num_prefix_tokens, attn_type=layer_type,
                                           feature_map=settings['feature_map'], **settings['attn_cfg'])
                  for block, layer_type in zip(vit.blocks, settings['attn_type'])]
        for attn in copies:
            for name, param in attn.named_parameters():
                param.requires_grad = name.startswith(self.trainable)
        return copies

    def init_weights(self) -> None:
        """Load the teacher, then start every linear attention from its block's weights."""
        self.teacher.init_weights()
        for copy, block in zip(self.student_attns, self.teacher.vit.blocks):
            copy.load_attention_weights(block.attn)

    def loss(self, inputs: torch.Tensor) -> Dict[str, torch.Tensor]:
        losses = {f'mse_block{i:02d}': F.mse_loss(output.float(), target.float())
                  for i, (output, target) in enumerate(attention_outputs(self.teacher, self.student_attns, inputs))}
        # Keys without 'loss' are logged by mmengine but not summed: the mean is the loss.
        losses['loss'] = torch.stack(list(losses.values())).mean()
        return losses

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor) -> List[Dict[str, float]]:
        per_block = torch.stack([relative_error(output, target)
                                 for output, target in attention_outputs(self.teacher, self.student_attns, inputs)], dim=1)
        return [{'rel_error_mean': float(row.mean()),
                 **{f'rel_error_block{i:02d}': float(v) for i, v in enumerate(row)}} for row in per_block]

    def export_backbone(self) -> dict:
        """The teacher with every attention replaced by its aligned linear copy."""
        state = self.teacher.export_state_dict()
        for i, attn in enumerate(self.student_attns):
            state.update({f'blocks.{i}.attn.{k}': v.detach().clone() for k, v in attn.state_dict().items()})
        return dict(state_dict=state, meta=dict(stage='attention_align', arch=self.teacher.arch,
                                               **self.student_settings))
