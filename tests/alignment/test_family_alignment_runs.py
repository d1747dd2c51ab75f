"""Stages 1 and 2 from the CLIP, SigLIP and DINOv3 configs, on tiny teachers: each stage aligns.

The stage runs must be able to fail: stage 1 has to lower the linear attentions' error on
held-out images well below that of the teacher's weights used as they are, and stage 2 has to
bring the final features closer to the teacher's than stage 1 left them (relative error). Both are measured
here on the teacher's own held-out block inputs (`TeacherReference`), not read from the logs.
"""
import os.path as osp

import pytest
import torch
from mmengine.runner import Runner
from tiny import TINY_CONFIGS, TINY_VIT, tiny_teacher_state

from mmseg_adala.alignment.teacher_records import TeacherReference, relative_error
from mmseg_adala.engine.run_config import load_run_config
from mmseg_adala.models import AdaLAViT
from mmseg_adala.models.backbones import resolve_arch

# Stages 1 and 2 trained for each family.
pytestmark = pytest.mark.slow

FAMILIES = {'clip': 'clip_vitl14', 'siglip': 'siglip_vitl16', 'dinov3': 'dinov3_vitl16'}


def _train(config, work_dir, options):
    runner = Runner.from_cfg(load_run_config(config, work_dir=str(work_dir), cfg_options=options))
    runner.train()
    return runner


def _backbone(arch, checkpoint, attn_type='linear'):
    backbone = AdaLAViT(arch=arch, vit_cfg=TINY_VIT, img_size=112, attn_type=attn_type,
                        init_cfg=dict(type='Pretrained', checkpoint=checkpoint))
    backbone.init_weights()
    return backbone.eval()


@pytest.mark.parametrize('family', FAMILIES)
def test_stages_1_and_2_align_a_tiny_teacher_of_each_family(family, tmp_path, image_folders):
    arch = FAMILIES[family]
    torch.manual_seed(0)
    teacher_checkpoint = str(tmp_path / 'teacher.pth')
    state = tiny_teacher_state(arch)
    if 'pos_embed' in state:  # timm's 0.02 init leaves tokens alike: attention that any kernel matches
        state['pos_embed'] = torch.randn_like(state['pos_embed'])
    torch.save(state, teacher_checkpoint)
    options = {'model.teacher.init_cfg.checkpoint': teacher_checkpoint, 'randomness': dict(seed=0),
               'train_dataloader.dataset.data_root': image_folders[0],
               'val_dataloader.dataset.data_root': image_folders[1]}

    stage1 = _train(osp.join(TINY_CONFIGS, f'{family}_stage1_tiny.py'), tmp_path / 'stage1', options)
    preprocessor = stage1.model.data_preprocessor
    assert preprocessor.mean.flatten().tolist() == pytest.approx(resolve_arch(arch).normalisation['mean'])
    stage1_export = str(tmp_path / 'stage1' / 'backbone_final.pth')
    stage2 = _train(osp.join(TINY_CONFIGS, f'{family}_stage2_tiny.py'), tmp_path / 'stage2',
                    dict(options, **{'model.student.init_cfg.checkpoint': stage1_export}))
    assert stage2.model.student.arch == arch

    images = preprocessor(next(iter(stage1.val_dataloader)))['inputs']
    reference = TeacherReference(_backbone(arch, teacher_checkpoint, 'softmax'), images)
    unaligned, after_stage1, after_stage2 = (
        _backbone(arch, checkpoint) for checkpoint in
        (teacher_checkpoint, stage1_export, str(tmp_path / 'stage2' / 'backbone_final.pth')))
    error_unaligned = reference.attention_errors(unaligned).mean()
    error_stage1 = reference.attention_errors(after_stage1).mean()
    assert error_stage1 < 0.5 * error_unaligned, (error_stage1, error_unaligned)
    with torch.no_grad():
        feature_error_stage1, feature_error_stage2 = (
            relative_error(backbone.forward_tokens(images), reference.tokens).mean()
            for backbone in (after_stage1, after_stage2))
    print(f'{family}: attention error {error_unaligned:.3g} -> {error_stage1:.3g} (stage 1), '
          f'feature error {feature_error_stage1:.3g} -> {feature_error_stage2:.3g} (stage 2)')  # pytest -s
    assert feature_error_stage2 < 0.8 * feature_error_stage1, (feature_error_stage2, feature_error_stage1)
