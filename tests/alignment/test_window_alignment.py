"""Stage 1 with the window kernels: LoLCATs' hybrid and L2ViT-style per-block types."""
import pytest
import torch
from tiny import TINY_VIT

from mmseg_adala.alignment import AttentionAlignModel
from mmseg_adala.models import AdaLAViT

TEACHER = dict(type='AdaLAViT', arch='dinov2_vits14', attn_type='softmax', vit_cfg=TINY_VIT, img_size=112)
LOLCATS = dict(attn_type='window_linear', feature_map='hedgehog', attn_cfg=dict(window_size=2))


def _aligned(teacher_checkpoint, student, steps, trainable=None):
    model = AttentionAlignModel(teacher=dict(TEACHER, init_cfg=dict(type='Pretrained', checkpoint=teacher_checkpoint)),
                                student=student, trainable=trainable)
    model.init_weights()
    batch = torch.randn(2, 3, 56, 56)  # a 4x4 grid: four 2x2 windows
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    with torch.no_grad():
        before = model(batch, mode='loss')['loss']
    for _ in range(steps):
        optimizer.zero_grad()
        model(batch, mode='loss')['loss'].backward()
        optimizer.step()
    with torch.no_grad():
        after = model(batch, mode='loss')['loss']
    return model, before, after


@pytest.mark.slow
def test_stage1_aligns_lolcats_hybrid_and_learns_its_mixing_factor(teacher_checkpoint, tmp_path):
    model, before, after = _aligned(teacher_checkpoint, LOLCATS, steps=30)
    assert after < before / 2, (before, after)
    trained = {name for name, p in model.student_attns.named_parameters() if p.requires_grad}
    assert trained == {f'{i}.{name}' for i in range(2)
                       for name in ('qkv.weight', 'qkv.bias', 'feature_map.weight', 'feature_map.bias',
                                    'key_map.weight', 'key_map.bias', 'window_factor')}
    assert all(not torch.equal(attn.window_factor, torch.zeros(2)) for attn in model.student_attns)

    export = model.export_backbone()
    assert export['meta']['attn_type'] == ['window_linear'] * 2 and export['meta']['attn_cfg'] == dict(window_size=2)
    path = str(tmp_path / 'stage1.pth')
    torch.save(export, path)
    backbone = AdaLAViT(arch='dinov2_vits14', vit_cfg=TINY_VIT, img_size=112, attn_type='window_linear',
                        feature_map='hedgehog', attn_cfg=dict(window_size=2),
                        init_cfg=dict(type='Pretrained', checkpoint=path))
    backbone.init_weights()
    torch.testing.assert_close(backbone.vit.blocks[1].attn.window_factor, model.student_attns[1].window_factor)
    with pytest.raises(ValueError, match='window_size: export 2, config 3'):
        AdaLAViT(arch='dinov2_vits14', vit_cfg=TINY_VIT, img_size=112, attn_type='window_linear',
                 feature_map='hedgehog', attn_cfg=dict(window_size=3),
                 init_cfg=dict(type='Pretrained', checkpoint=path)).init_weights()


def test_lolcats_attention_transfer_trains_only_the_feature_maps_and_window_factors(teacher_checkpoint):
    """LoLCATs' own stage 1 (configs/lolcats): the teacher's Q/K/V weights stay as they are."""
    trainable = ('feature_map.', 'key_map.', 'window_factor')
    lolcats = dict(LOLCATS, attn_cfg=dict(window_size=2, feature_map_cfg=dict(bias=False)))
    model, before, after = _aligned(teacher_checkpoint, lolcats, steps=30, trainable=trainable)
    assert after < before, (before, after)
    trained = {name for name, p in model.student_attns.named_parameters() if p.requires_grad}
    assert trained == {f'{i}.{name}' for i in range(2) for name in ('feature_map.weight', 'key_map.weight',
                                                                    'window_factor')}
    for attn, block in zip(model.student_attns, model.teacher.vit.blocks):
        torch.testing.assert_close(attn.qkv.weight, block.attn.qkv.weight, rtol=0, atol=0)
        assert not torch.equal(attn.feature_map.weight, torch.eye(24).repeat(2, 1, 1))  # moved from its identity start


def test_a_trainable_list_that_matches_nothing_is_refused(teacher_checkpoint):
    with pytest.raises(ValueError, match="trainable=\\['featuremap'\\] matches no parameter"):
        AttentionAlignModel(teacher=TEACHER, student=LOLCATS, trainable=('featuremap',))


def test_stage1_takes_one_kernel_per_block(teacher_checkpoint, tmp_path):
    """L2ViT-style alternation: window softmax in one block, linear attention in the next."""
    student = dict(attn_type=['window', 'linear'], attn_cfg=dict(window_size=2, local_concentration=True))
    model, before, after = _aligned(teacher_checkpoint, student, steps=10)
    assert after < before
    assert [attn.attn_type for attn in model.student_attns] == ['window', 'linear']
    assert model.student_attns[0].local_concentration is None  # a softmax kernel needs none
    export = model.export_backbone()
    assert export['meta']['attn_type'] == ['window', 'linear']
    path = str(tmp_path / 'stage1.pth')
    torch.save(export, path)
    AdaLAViT(arch='dinov2_vits14', vit_cfg=TINY_VIT, img_size=112, attn_type=['window', 'linear'],
             attn_cfg=dict(window_size=2, local_concentration=True),
             init_cfg=dict(type='Pretrained', checkpoint=path)).init_weights()
    with pytest.raises(ValueError, match='attn_type'):
        AdaLAViT(arch='dinov2_vits14', vit_cfg=TINY_VIT, img_size=112, attn_type='linear',
                 attn_cfg=dict(window_size=2, local_concentration=True),
                 init_cfg=dict(type='Pretrained', checkpoint=path)).init_weights()
