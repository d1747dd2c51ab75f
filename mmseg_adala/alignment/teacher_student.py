"""The frozen softmax teacher shared by both alignment stages."""
from typing import Dict, List, Optional, Union

import torch
from mmengine.model import BaseModel
from mmseg.registry import MODELS

from ..models.backbones import with_backbone_normalisation


class TeacherStudentModel(BaseModel):
    """Base of the stage-1 and stage-2 models: a frozen softmax ViT teacher and a student.

    The teacher never trains: its parameters do not require grad and it stays in eval mode
    whatever mode the runner sets. Subclasses define the student, the loss, the validation
    statistics and the exported backbone.

    Args:
        teacher: Config of the softmax `AdaLAViT`, with its pretrained `init_cfg`.
        data_preprocessor: Normalisation of the images (BGR->RGB; mean/std: the teacher's arch's if not given).
        init_cfg: Unused; the teacher and student load their own weights.
    """

    def __init__(self, teacher: dict, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=with_backbone_normalisation(data_preprocessor, teacher), init_cfg=init_cfg)
        self.teacher = MODELS.build(teacher)
        self.teacher.requires_grad_(False)
        self.teacher.eval()

    def train(self, mode: bool = True) -> 'TeacherStudentModel':
        super().train(mode)
        self.teacher.eval()
        return self

    def forward(self, inputs: torch.Tensor, data_samples=None,
                mode: str = 'loss') -> Union[Dict[str, torch.Tensor], List[Dict[str, float]]]:
        if mode == 'loss':
            return self.loss(inputs)
        if mode == 'predict':
            return self.predict(inputs)
        raise ValueError(f'{type(self).__name__} supports mode "loss" and "predict", not {mode!r}')

    def loss(self, inputs: torch.Tensor) -> Dict[str, torch.Tensor]:
        raise NotImplementedError

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor) -> List[Dict[str, float]]:
        """Per-image alignment statistics, averaged by `AlignmentMetric`."""
        raise NotImplementedError

    def export_backbone(self) -> dict:
        """The student as an `AdaLAViT` checkpoint: `state_dict` in timm's layout, and `meta`."""
        raise NotImplementedError
