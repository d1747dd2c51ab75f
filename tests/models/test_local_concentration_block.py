import pytest
import torch
import torch.nn.functional as F
from tiny import TINY_VIT

from mmseg_adala.alignment import AttentionAlignModel, FeatureAlignModel
from mmseg_adala.models import AdaLAViT
from mmseg_adala.models.backbones.local_concentration_block import LocalConcentrationBlock


def _randomise(module, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in list(module.named_parameters()) + list(module.named_buffers()):
            if tensor.is_floating_point():
                noise = torch.randn(tensor.shape, generator=g) * 0.3
                tensor.copy_(noise.abs() + 0.5 if name.endswith('running_var') else noise)


def _lcm_reference(lcm, x, grid, prefix):
    """L2ViT's LCM (arXiv 2501.16182): DWConv7 -> GELU -> BN -> DWConv7 over the patch grid."""
    patches = x[:, prefix:].transpose(1, 2).reshape(x.shape[0], x.shape[2], *grid)
    y = F.conv2d(patches, lcm.conv1.weight, lcm.conv1.bias, padding=3, groups=x.shape[2])
    y = F.batch_norm(F.gelu(y), lcm.bn.running_mean, lcm.bn.running_var, lcm.bn.weight, lcm.bn.bias, eps=lcm.bn.eps)
    y = F.conv2d(y, lcm.conv2.weight, lcm.conv2.bias, padding=3, groups=x.shape[2])
    return torch.cat([torch.zeros_like(x[:, :prefix]), y.flatten(2).transpose(1, 2)], dim=1)


def test_block_is_l2vit_lga_block():
    """x + Attn(norm1(x)), then + LCM(norm(x)), then + MLP(norm2(x)) (L2ViT's LGABlock), LayerScale as DINOv2."""
    backbone = AdaLAViT(arch='dinov2_vits14', vit_cfg=TINY_VIT, block_local_concentration=True).eval()
    block = backbone.vit.blocks[0]
    assert isinstance(block, LocalConcentrationBlock)
    _randomise(block, 0)
    block.attn.grid_size = (3, 4)
    x = torch.randn(2, 1 + 12, 48)
    with torch.no_grad():
        x1 = x + block.ls1(block.attn(block.norm1(x)))
        x2 = x1 + _lcm_reference(block.lcm, F.layer_norm(x1, (48,), block.lcm_norm.weight, block.lcm_norm.bias,
                                                          eps=block.lcm_norm.eps), (3, 4), 1)
        expected = x2 + block.ls2(block.mlp(block.norm2(x2)))
        torch.testing.assert_close(block(x), expected)


def test_branch_starts_at_zero_on_linear_blocks_only():
    """A softmax block (here block 0) keeps timm's block; a linear one is unchanged at start."""
    kwargs = dict(arch='dinov2_vits14', vit_cfg=TINY_VIT, attn_type=['softmax', 'linear'])
    plain = AdaLAViT(**kwargs).eval()
    with_lcm = AdaLAViT(block_local_concentration=True, **kwargs).eval()
    assert [type(b) is LocalConcentrationBlock for b in with_lcm.vit.blocks] == [False, True]
    missing, unexpected = with_lcm.vit.load_state_dict(plain.vit.state_dict(), strict=False)
    assert not unexpected and all(k.startswith(('blocks.1.lcm.', 'blocks.1.lcm_norm.')) for k in missing) and missing
    x = torch.randn(2, 3, 56, 70)
    with torch.no_grad():
        torch.testing.assert_close(with_lcm(x)[0], plain(x)[0])
    with_lcm.train()
    with_lcm(x)[0].sum().backward()
    assert with_lcm.vit.blocks[1].lcm.conv2.weight.grad.abs().sum() > 0


def _save(state, tmp_path):
    path = str(tmp_path / 'weights.pth')
    torch.save(state, path)
    return path


def _load(path, **kwargs):
    backbone = AdaLAViT(arch='dinov2_vits14', vit_cfg=TINY_VIT, init_cfg=dict(type='Pretrained', checkpoint=path),
                        **kwargs)
    backbone.init_weights()
    return backbone


def test_stage1_leaves_the_branch_to_stage2_and_exports_round_trip(tmp_path):
    teacher = dict(type='AdaLAViT', arch='dinov2_vits14', attn_type='softmax', vit_cfg=TINY_VIT)
    stage1 = AttentionAlignModel(teacher=teacher)
    assert not any('lcm' in name for name, _ in stage1.named_parameters())  # stage 1 aligns attention only
    # A stage-1 export (no branch in it) loads strictly into the stage-2 student, branch at zero.
    student = _load(_save(stage1.export_backbone(), tmp_path), block_local_concentration=True)
    assert not student.vit.blocks[0].lcm.conv2.weight.any()

    stage2 = FeatureAlignModel(teacher=teacher, student=dict(attn_type='linear', block_local_concentration=True))
    assert all(p.requires_grad for name, p in stage2.student.named_parameters() if '.lcm' in name)
    _randomise(stage2.student.vit.blocks[1], 1)
    export = stage2.export_backbone()
    assert export['meta']['block_local_concentration'] is True
    path = _save(export, tmp_path)
    loaded = _load(path, block_local_concentration=True)
    for key, value in export['state_dict'].items():
        torch.testing.assert_close(loaded.vit.state_dict()[key], value, msg=key)
    assert 'blocks.1.lcm.bn.running_var' in export['state_dict']
    with pytest.raises(ValueError, match='block_local_concentration: export True, config False'):
        _load(path)
