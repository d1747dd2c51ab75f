"""Stage 1 and stage 2 models on a fixed batch: what trains, what improves, what stays put."""
import pytest
import torch
from tiny import TINY_VIT

from mmseg_adala.alignment import AttentionAlignModel, FeatureAlignModel

TEACHER = dict(type='AdaLAViT', arch='dinov2_vits14', attn_type='softmax', vit_cfg=TINY_VIT, img_size=112)


def _teacher(checkpoint):
    return dict(TEACHER, init_cfg=dict(type='Pretrained', checkpoint=checkpoint))


def _train(model, batch, steps, lr):
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        model(batch, mode='loss')['loss'].backward()
        optimizer.step()


def _snapshot(module):
    return {name: value.clone() for name, value in module.state_dict().items()}


@pytest.mark.slow  # trains until the alignment shows
@pytest.mark.parametrize('feature_map', ['elu', 'hedgehog'])
def test_stage1_aligns_every_block_and_trains_only_qkv(teacher_checkpoint, feature_map):
    model = AttentionAlignModel(teacher=_teacher(teacher_checkpoint), student=dict(feature_map=feature_map))
    model.init_weights()
    batch = torch.randn(4, 3, 56, 56)
    teacher_before, students_before = _snapshot(model.teacher), _snapshot(model.student_attns)
    # The linear copies start from the teacher's own projections.
    torch.testing.assert_close(model.student_attns[1].qkv.weight, model.teacher.vit.blocks[1].attn.qkv.weight)

    with torch.no_grad():
        before = model(batch, mode='loss')
    _train(model, batch, steps=150, lr=3e-3)
    with torch.no_grad():
        after = model(batch, mode='loss')

    for block in ('mse_block00', 'mse_block01'):
        assert after[block] < before[block] / 10, (block, before[block], after[block])
    assert all(torch.equal(value, model.teacher.state_dict()[k]) for k, value in teacher_before.items())
    changed = {k for k, v in _snapshot(model.student_attns).items() if not torch.equal(v, students_before[k])}
    expected = {f'{i}.qkv.{p}' for i in range(2) for p in ('weight', 'bias')}
    if feature_map == 'hedgehog':
        expected |= {f'{i}.{role}_map.{p}' for i in range(2) for role in ('feature', 'key') for p in ('weight', 'bias')}
    assert changed == expected


def test_stage1_predict_reports_relative_errors(teacher_checkpoint):
    model = AttentionAlignModel(teacher=_teacher(teacher_checkpoint))
    model.init_weights()
    model.eval()
    batch = torch.randn(2, 3, 56, 56)
    stats = model(batch, mode='predict')
    # By hand: block 1's linear copy on the teacher's normed block-1 input, against its softmax.
    seen = []
    hook = model.teacher.vit.blocks[1].attn.register_forward_hook(lambda _, args, out: seen.append((args[0], out)))
    with torch.no_grad():
        model.teacher.forward_tokens(batch[:1])
        hook.remove()
        (block1_input, target), = seen
        output = model.student_attns[1](block1_input)
    expected = ((output - target).pow(2).sum() / target.pow(2).sum()).item()
    assert stats[0]['rel_error_block01'] == pytest.approx(expected, rel=1e-4)
    assert stats[0]['rel_error_mean'] == pytest.approx(
        (stats[0]['rel_error_block00'] + stats[0]['rel_error_block01']) / 2)


@pytest.mark.slow
def test_stage2_aligns_features_and_trains_everything(teacher_checkpoint):
    model = FeatureAlignModel(teacher=_teacher(teacher_checkpoint),
                              student=dict(attn_type='linear', init_cfg=dict(type='Pretrained',
                                                                              checkpoint=teacher_checkpoint)))
    model.init_weights()
    batch = torch.randn(4, 3, 56, 56)
    teacher_before, student_before = _snapshot(model.teacher), _snapshot(model.student)
    model.eval()
    before = model(batch, mode='predict')[0]
    _train(model, batch, steps=60, lr=1e-3)
    model.eval()
    after = model(batch, mode='predict')[0]

    assert after['rel_mse'] < before['rel_mse'] / 3 and after['cosine'] > before['cosine']
    assert all(torch.equal(value, model.teacher.state_dict()[k]) for k, value in teacher_before.items())
    unchanged = [k for k, v in _snapshot(model.student).items() if torch.equal(v, student_before[k])]
    assert unchanged == []
    assert not model.teacher.training  # the runner's train() leaves the teacher in eval mode


@pytest.mark.slow
def test_stage2_qkv_only_trains_the_attention_projections_alone(teacher_checkpoint):
    model = FeatureAlignModel(teacher=_teacher(teacher_checkpoint), trainable=('.attn.qkv.',),
                              student=dict(attn_type='linear', init_cfg=dict(type='Pretrained',
                                                                              checkpoint=teacher_checkpoint)))
    model.init_weights()
    batch = torch.randn(4, 3, 56, 56)
    student_before = _snapshot(model.student)
    model.eval()
    before = model(batch, mode='predict')[0]
    _train(model, batch, steps=60, lr=1e-3)
    model.eval()
    after = model(batch, mode='predict')[0]

    assert after['rel_mse'] < before['rel_mse']
    changed = {k for k, v in _snapshot(model.student).items() if not torch.equal(v, student_before[k])}
    assert changed == {f'vit.blocks.{i}.attn.qkv.{p}' for i in range(2) for p in ('weight', 'bias')}
    with pytest.raises(ValueError, match='matches no student parameter'):
        FeatureAlignModel(teacher=_teacher(teacher_checkpoint), student=dict(attn_type='linear'),
                          trainable=('.attn.qvk.',))


def test_stage1_export_is_the_teacher_with_linear_attention(teacher_checkpoint):
    model = AttentionAlignModel(teacher=_teacher(teacher_checkpoint))
    model.init_weights()
    with torch.no_grad():
        model.student_attns[0].qkv.weight.add_(1.0)
    export = model.export_backbone()
    assert export['meta']['attn_type'] == ['linear'] * 2 and export['meta']['feature_map'] == 'elu'
    torch.testing.assert_close(export['state_dict']['blocks.0.attn.qkv.weight'], model.student_attns[0].qkv.weight)
    torch.testing.assert_close(export['state_dict']['blocks.0.mlp.fc1.weight'],
                               model.teacher.vit.blocks[0].mlp.fc1.weight)
