"""Stage 2, feature alignment: the whole linear ViT learns the softmax ViT's final features."""
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

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
        data_preprocessor: Image normalisation.
    """

    def __init__(self, teacher: dict, student: dict, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(teacher, data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.student = MODELS.build(dict(teacher, **student))

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
        rel_mse = (output - target).pow(2).flatten(1).sum(1) / target.pow(2).flatten(1).sum(1).clamp_min(1e-12)
        return [dict(cosine=float(c), rel_mse=float(r)) for c, r in zip(cosine, rel_mse)]

    def export_backbone(self) -> dict:
        return dict(state_dict=self.student.export_state_dict(),
                    meta=dict(stage='feature_align', **self.student.variant))
