"""Stage 2, feature alignment: the whole linear ViT learns the softmax ViT's final features."""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

from .teacher_records import relative_error
from .teacher_student import TeacherStudentModel


@MODELS.register_module()
class FeatureAlignModel(TeacherStudentModel):
    """A frozen softmax ViT teacher and a linear ViT student trained end to end.

    Stage 1 aligns each attention on the teacher's inputs; stacked, their small errors
    compound. Here every student parameter trains so that its final-layer tokens (all of
    them, prefix tokens included, after the final norm) match the teacher's.

    Args:
        teacher: Config of the softmax `AdaLAViT` with its pretrained weights.
        student: What differs in the student from the teacher's config: linear `attn_type`,
            its `feature_map`, and `init_cfg` pointing at the stage-1 export.
        trainable: If given, only the student parameters whose names contain one of these
            strings train, e.g. `('.attn.qkv.',)` for the paper's QKV-only ablation (which
            loses 6.7 mIoU against training the whole network). Default: all.
        data_preprocessor: Image normalisation.
    """

    def __init__(self, teacher: dict, student: dict, trainable: Optional[Sequence[str]] = None,
                 data_preprocessor: Optional[dict] = None, init_cfg: Optional[dict] = None) -> None:
        super().__init__(teacher, data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.student = MODELS.build(dict(teacher, **student))
        if trainable is not None:
            for name, param in self.student.named_parameters():
                param.requires_grad = any(part in name for part in trainable)
            if not any(p.requires_grad for p in self.student.parameters()):
                raise ValueError(f'trainable={list(trainable)} matches no student parameter '
                                 '(names look like vit.blocks.0.attn.qkv.weight)')

    def _features(self, inputs: torch.Tensor):
        with torch.no_grad():
            target = self.teacher.forward_tokens(inputs)
        return self.student.forward_tokens(inputs).float(), target.float()

    def loss(self, inputs: torch.Tensor) -> Dict[str, torch.Tensor]:
        output, target = self._features(inputs)
        return dict(loss=F.mse_loss(output, target))

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor) -> List[Dict[str, float]]:
        output, target = self._features(inputs)
        cosine = F.cosine_similarity(output, target, dim=-1).mean(dim=1)
        rel_mse = relative_error(output, target)
        return [dict(cosine=float(c), rel_mse=float(r)) for c, r in zip(cosine, rel_mse)]

    def export_backbone(self) -> dict:
        return dict(state_dict=self.student.export_state_dict(),
                    meta=dict(stage='feature_align', **self.student.variant))
