"""The stage-1 and stage-2 models on their input's device: losses, gradients and validation.

Run with the default device set to 'meta' (`with_meta_default_device`), against the CPU; with
``--device cuda`` on the GPU as well.
"""
import copy

import pytest
import torch
from on_device import assert_close_to_cpu, with_meta_default_device
from tiny import TINY_VIT

from mmseg_adala.alignment import AttentionAlignModel, FeatureAlignModel

TEACHER = dict(type='AdaLAViT', arch='dinov2_vits14', attn_type='softmax', vit_cfg=TINY_VIT, img_size=112)
MODELS = {
    'stage 1 elu': lambda: AttentionAlignModel(TEACHER),
    'stage 1 hedgehog': lambda: AttentionAlignModel(TEACHER, student=dict(feature_map='hedgehog')),
    'stage 1 window_linear': lambda: AttentionAlignModel(
        TEACHER, student=dict(attn_type='window_linear', feature_map='hedgehog', attn_cfg=dict(window_size=2))),
    'stage 2': lambda: FeatureAlignModel(TEACHER, student=dict(attn_type='linear', feature_map='elu')),
}


@pytest.mark.parametrize('name', MODELS)
def test_alignment_model_on_the_inputs_device(device, name):
    model = MODELS[name]()
    model.init_weights()
    images = torch.randn(2, 3, 56, 70)

    def loss_and_scores(alignment, x):
        alignment.train()
        loss = alignment(x, mode='loss')
        loss['loss'].backward()
        alignment.eval()
        return loss['loss'].detach(), alignment(x, mode='predict')

    expected, expected_scores = loss_and_scores(copy.deepcopy(model), images)
    got, scores = with_meta_default_device(loss_and_scores, copy.deepcopy(model).to(device), images.to(device))
    assert_close_to_cpu(got, expected, device)
    for ours, reference in zip(scores, expected_scores):
        assert ours.keys() == reference.keys()
        for key in reference:
            assert ours[key] == pytest.approx(reference[key], rel=1e-5 if device == 'cpu' else 1e-2, abs=1e-6)
