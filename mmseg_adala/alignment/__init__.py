"""Stages 1 and 2 of ViT-AdaLA: the models (and their losses), loops, metric and export hook."""
from .attention_align import AttentionAlignModel
from .export_hook import BackboneExportHook
from .feature_align import FeatureAlignModel
from .loops import AttentionAlignLoop, FeatureAlignLoop
from .metric import AlignmentMetric
from .teacher_student import TeacherStudentModel

__all__ = ['AlignmentMetric', 'AttentionAlignLoop', 'AttentionAlignModel', 'BackboneExportHook',
           'FeatureAlignLoop', 'FeatureAlignModel', 'TeacherStudentModel']
