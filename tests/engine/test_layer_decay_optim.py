import pytest
import torch.nn as nn
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

import mmseg_adala  # noqa: F401
from mmseg_adala.engine.layer_decay_optim import layer_id
from mmseg_adala.models import AdaLAViT


class Segmentor(nn.Module):
    """Parameter names as in an MMSeg EncoderDecoder: backbone.vit.*, decode_head.*."""

    def __init__(self):
        super().__init__()
        self.backbone = AdaLAViT(arch='dinov2_vits14', vit_cfg=dict(embed_dim=48, depth=3, num_heads=2))
        self.decode_head = nn.Conv2d(48, 3, 1)


def test_learning_rate_decays_by_depth_and_norms_skip_weight_decay():
    init_default_scope('mmseg')  # as a Runner does for our configs (default_scope='mmseg')
    model = Segmentor()
    wrapper = build_optim_wrapper(model, dict(
        optimizer=dict(type='AdamW', lr=1.0, weight_decay=0.1),
        constructor='ViTLayerDecayOptimizerConstructor', paramwise_cfg=dict(decay_rate=0.5)))
    groups = {g['param_name']: g for g in wrapper.optimizer.param_groups}
    # 3 blocks: embeddings at depth 0, block i at i + 1, the rest (head, final norm) at 4.
    assert groups['backbone.vit.pos_embed']['lr'] == pytest.approx(0.5 ** 4)
    assert groups['backbone.vit.patch_embed.proj.weight']['lr'] == pytest.approx(0.5 ** 4)
    assert groups['backbone.vit.blocks.0.attn.qkv.weight']['lr'] == pytest.approx(0.5 ** 3)
    assert groups['backbone.vit.blocks.2.mlp.fc1.weight']['lr'] == pytest.approx(0.5 ** 1)
    assert groups['backbone.vit.norm.weight']['lr'] == groups['decode_head.weight']['lr'] == 1.0
    assert groups['backbone.vit.blocks.0.attn.qkv.weight']['weight_decay'] == 0.1
    for name in ('backbone.vit.blocks.0.norm1.weight', 'backbone.vit.blocks.0.ls1.gamma',
                 'backbone.vit.cls_token', 'decode_head.bias'):
        assert groups[name]['weight_decay'] == 0.0, name
    assert len(groups) == sum(p.requires_grad for p in model.parameters())


def test_layer_ids():
    assert layer_id('backbone.vit.reg_token', 24) == 0
    assert layer_id('backbone.vit.blocks.23.attn.proj.bias', 24) == 24
    assert layer_id('neck.convs.0.conv.weight', 24) == 25
