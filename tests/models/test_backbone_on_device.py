"""AdaLAViT with every kind of attention runs on its input's device and creates nothing elsewhere.

Run with the default device set to 'meta' (`with_meta_default_device`), forward and backward,
against the same model on the CPU; with ``--device cuda`` on the GPU as well. One exception,
timm's: it builds DINOv3's rope coordinate grid on the host on purpose (its numerics and the
augmentation's random generator), a (patches, 2) tensor copied to the device once per forward.
"""
import copy

import pytest
import timm.layers.pos_embed_sincos
import torch
from on_device import assert_close_to_cpu, with_meta_default_device
from tiny import TINY_VIT

from mmseg_adala.models import AdaLAViT

BACKBONES = {
    'softmax': dict(attn_type='softmax'),
    'linear elu': dict(attn_type='linear', feature_map='elu'),
    'linear hedgehog': dict(attn_type='linear', feature_map='hedgehog'),
    'focused + value conv': dict(attn_type='linear', feature_map='focused', attn_cfg=dict(value_conv=5)),
    'relu + local concentration': dict(attn_type='linear', feature_map='relu', block_local_concentration=True,
                                       attn_cfg=dict(local_concentration=True)),
    'none': dict(attn_type='none'),
    'window': dict(attn_type='window', attn_cfg=dict(window_size=4)),  # 5 x 6 patches: padded windows
    'window_linear': dict(attn_type='window_linear', feature_map='hedgehog', attn_cfg=dict(window_size=4)),
    'dinov3 linear (rope)': dict(arch='dinov3_vits16', attn_type='linear'),
    'dinov3 softmax (rope)': dict(arch='dinov3_vits16', attn_type='softmax'),
}


def make_backbone(name):
    backbone = AdaLAViT(**{'arch': 'dinov2_vits14', 'vit_cfg': TINY_VIT, **BACKBONES[name]})
    with torch.no_grad():  # parameters that start at zero or the identity would hide their path
        for param in backbone.parameters():
            param.add_(0.05 * torch.randn_like(param))
    return backbone


def grid_on_the_host(build_grid):
    def build(*args, **kwargs):
        with torch.device('cpu'):
            return build_grid(*args, **kwargs)
    return build


@pytest.mark.parametrize('name', BACKBONES)
@pytest.mark.parametrize('training', [False, True], ids=['inference', 'training'])
def test_backbone_on_the_inputs_device(monkeypatch, device, name, training):
    monkeypatch.setattr(timm.layers.pos_embed_sincos, '_build_grid',
                        grid_on_the_host(timm.layers.pos_embed_sincos._build_grid))
    backbone = make_backbone(name).train(training)
    image = torch.randn(2, 3, 70, 84)

    def step(model, x):
        with torch.set_grad_enabled(training):
            out = model(x)[0]
        if training:
            out.square().mean().backward()
        return out.detach()

    reference = step(backbone, image)
    on_device = copy.deepcopy(backbone).to(device)
    on_device.zero_grad()
    assert_close_to_cpu(with_meta_default_device(step, on_device, image.to(device)), reference, device)
    if training:
        for (name, param), ours in zip(backbone.named_parameters(), on_device.parameters()):
            if param.grad is not None:
                assert_close_to_cpu(ours.grad, param.grad, device)
