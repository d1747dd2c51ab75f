"""Every checkpoint format users have loads into AdaLAViT and gives exactly timm's model's outputs.

Each file is written here from a random tiny timm model, in the layout of the real release
(timm's .pth/.safetensors, OpenAI's TorchScript ViT-L-14.pt, open_clip's checkpoints, the
official DINOv3 .pth), by inverses of timm's converters: a conversion that loses or misplaces
a tensor shows in the outputs, not only in the key names.
"""
import re

import numpy as np
import pytest
import safetensors.torch
import timm
import torch
from torch import nn

from mmseg_adala.engine.checkpoint_file import CheckpointFileError
from mmseg_adala.models import AdaLAViT
from mmseg_adala.models.backbones import ARCHS

TINY = dict(embed_dim=48, depth=2, num_heads=2)
# Per patch size: the img_size of a 4x4 grid, and another input of whole patches (interpolated grid).
SIZES = {14: (56, (42, 70)), 16: (64, (48, 80))}
# timm's names -> OpenAI CLIP's (the inverse of timm's `_convert_openai_clip`), applied in order.
OPENAI_NAMES = ((r'^patch_embed\.proj\.', 'conv1.'), (r'^norm_pre\.', 'ln_pre.'), (r'^norm\.', 'ln_post.'),
                (r'^blocks\.', 'transformer.resblocks.'), (r'\.norm(\d)\.', r'.ln_\1.'), (r'\.qkv\.', '.in_proj_'),
                (r'\.attn\.proj\.', '.attn.out_proj.'), (r'\.fc1\.', '.c_fc.'), (r'\.fc2\.', '.c_proj.'))
# timm's Eva names -> the official DINOv3 release's (the inverse of timm's eva `checkpoint_filter_fn`).
DINOV3_NAMES = (('reg_token', 'storage_tokens'), ('gamma_1', 'ls1.gamma'), ('gamma_2', 'ls2.gamma'))


class TorchScriptTensors(nn.Module):
    """Tensors under dotted names as nested modules, for a TorchScript archive like OpenAI's ViT-L-14.pt."""

    def __init__(self, tensors: dict) -> None:
        super().__init__()
        children = {}
        for name, tensor in tensors.items():
            head, _, rest = name.partition('.')
            if rest:
                children.setdefault(head, {})[rest] = tensor
            else:
                self.register_buffer(head, tensor)
        for head, child in children.items():
            self.add_module(head, TorchScriptTensors(child))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _timm_model(arch, img_size, **vit_cfg):
    """timm's tiny model of `arch` with random weights that fp16 holds exactly (OpenAI's release is fp16)."""
    model = timm.create_model(ARCHS[arch].model_name if arch in ARCHS else arch, pretrained=False, num_classes=0,
                              global_pool='', dynamic_img_size=True, img_size=img_size, **(vit_cfg or TINY))
    with torch.no_grad():
        for param in model.parameters():  # not init values: LayerScale 1e-5 would hide attention errors
            param.copy_(torch.randn_like(param).mul(0.05).half().float())
    return model.eval()


def _pooling_head(arch, img_size):
    """The `attn_pool.*` and `head.*` tensors a classification/retrieval file of `arch` has besides the backbone."""
    pooled = timm.create_model(ARCHS[arch].model_name, pretrained=False, num_classes=10, img_size=img_size, **TINY)
    return {k: v for k, v in pooled.state_dict().items() if k.startswith(('attn_pool.', 'head.'))}


def _save(state, path):
    if path.suffix == '.safetensors':
        safetensors.torch.save_file(state, str(path))
    else:
        torch.save(state, str(path))
    return str(path)


def _backbone(arch, checkpoint, img_size, **vit_cfg):
    backbone = AdaLAViT(arch=arch, attn_type='softmax', img_size=img_size, vit_cfg=vit_cfg or TINY,
                        init_cfg=dict(type='Pretrained', checkpoint=checkpoint))
    backbone.init_weights()
    return backbone.eval()


def _assert_loads_as_timm(arch, checkpoint, model, **vit_cfg):
    """The backbone loaded from `checkpoint` gives exactly `model`'s tokens, at its grid and at another size."""
    grid_size, other = SIZES[model.patch_embed.patch_size[0]]
    backbone = _backbone(arch, checkpoint, grid_size, **vit_cfg)
    for size in ((grid_size, grid_size), other):
        x = torch.randn(2, 3, *size)
        with torch.no_grad():
            torch.testing.assert_close(backbone.forward_tokens(x), model.forward_features(x), rtol=0, atol=0,
                                       msg=f'input {size}')


def _openai_clip(model):
    """OpenAI CLIP's release layout of a timm CLIP model, with the text tower that loading ignores."""
    state = {}
    for key, value in model.state_dict().items():
        for pattern, name in OPENAI_NAMES:
            key = re.sub(pattern, name, key)
        state['visual.' + key] = value
    state['visual.class_embedding'] = state.pop('visual.cls_token').flatten()
    state['visual.positional_embedding'] = state.pop('visual.pos_embed')[0]
    width = model.embed_dim
    state.update({'visual.proj': torch.randn(width, 32), 'token_embedding.weight': torch.randn(100, width),
                  'positional_embedding': torch.randn(77, width), 'ln_final.weight': torch.ones(width),
                  'transformer.resblocks.0.attn.in_proj_weight': torch.randn(3 * width, width),
                  'text_projection': torch.randn(width, 32), 'logit_scale': torch.tensor(4.6),
                  # Buffers of the TorchScript release that OpenAI's own loader deletes.
                  'input_resolution': torch.tensor(224), 'context_length': torch.tensor(77),
                  'vocab_size': torch.tensor(49408)})
    return state


def _official_dinov3(model, k_bias_scale=1.):
    """The official DINOv3 release layout of a timm Eva DINOv3 model.

    The release's blocks have one `qkv.bias` whose key part `qkv.bias_mask` zeroes in the
    forward pass, so the file's key bias (non-zero here by default) must not matter.
    """
    state, width = model.state_dict(), model.embed_dim
    official = {'mask_token': torch.zeros(1, width)}
    head_dim = width // model.blocks[0].attn.num_heads
    official['rope_embed.periods'] = 100 ** (2 * torch.arange(head_dim // 4) / (head_dim // 2))
    for key, value in state.items():
        if not key.endswith(('.q_bias', '.v_bias')):
            for timm_name, name in DINOV3_NAMES:
                key = key.replace(timm_name, name)
            official[key] = value
    zeros, ones = torch.zeros(width), torch.ones(width)
    for i in range(len(model.blocks)):
        attn = f'blocks.{i}.attn.'
        official[attn + 'qkv.bias'] = torch.cat(
            [state.get(attn + 'q_bias', zeros), k_bias_scale * torch.randn(width), state.get(attn + 'v_bias', zeros)])
        official[attn + 'qkv.bias_mask'] = torch.cat([ones, zeros, ones])
    return official


@pytest.mark.parametrize('suffix', ['.pth', '.safetensors'])
@pytest.mark.parametrize('arch,with_pooling_head', [('clip_vitl14', False), ('siglip_vitl16', False),
                                                    ('siglip_vitl16', True)])
def test_timm_state_dict(arch, with_pooling_head, suffix, tmp_path):
    """timm's own layout; SigLIP's attention pooling and a classifier head are ignored."""
    img_size = SIZES[ARCHS[arch].patch_size][0]
    model = _timm_model(arch, img_size)
    state = {**model.state_dict(), **(_pooling_head(arch, img_size) if with_pooling_head else {})}
    _assert_loads_as_timm(arch, _save(state, tmp_path / f'model{suffix}'), model)


@pytest.mark.parametrize('layout', ['torchscript', 'state_dict', 'ddp_training_checkpoint'])
def test_openai_clip(layout, tmp_path):
    """OpenAI's TorchScript release (fp16), open_clip's OpenAI-style state dict and its DDP training checkpoint."""
    model = _timm_model('clip_vitl14', 56)
    state = _openai_clip(model)
    if layout == 'torchscript':
        path = str(tmp_path / 'ViT-L-14.pt')
        half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        torch.jit.save(torch.jit.script(TorchScriptTensors(half)), path)
        assert torch.jit.load(path).state_dict().keys() == state.keys()
    elif layout == 'state_dict':
        path = _save(state, tmp_path / 'open_clip_pytorch_model.bin')
    else:
        path = _save({'epoch': 32, 'name': 'run', 'state_dict': {f'module.{k}': v for k, v in state.items()}},
                     tmp_path / 'epoch_32.pt')
    _assert_loads_as_timm('clip_vitl14', path, model)


def test_open_clip_timm_trunk(tmp_path):
    """open_clip's SigLIP: timm's model under `visual.trunk.`, with pooling, projection and text tower ignored."""
    model = _timm_model('siglip_vitl16', 64)
    trunk = {**model.state_dict(), **_pooling_head('siglip_vitl16', 64)}
    state = {f'visual.trunk.{k}': v for k, v in trunk.items()}
    state.update({'visual.head.proj.weight': torch.randn(32, 48), 'text.token_embedding.weight': torch.randn(100, 48),
                  'text.transformer.resblocks.0.ln_1.weight': torch.ones(48), 'logit_scale': torch.tensor(4.6),
                  'logit_bias': torch.tensor(-10.)})
    _assert_loads_as_timm('siglip_vitl16', _save(state, tmp_path / 'open_clip_model.safetensors'), model)


def test_official_dinov3(tmp_path):
    """The official release (zero q/v biases, a masked key bias) loads into timm's bias-free DINOv3."""
    model = _timm_model('dinov3_vitl16', 64)
    path = _save(_official_dinov3(model), tmp_path / 'dinov3_vitl16_pretrain_lvd1689m.pth')
    _assert_loads_as_timm('dinov3_vitl16', path, model)


def test_official_dinov3_with_qv_biases_needs_the_qkvb_model(tmp_path):
    """Non-zero q/v biases are refused by the bias-free model and load into timm's `_qkvb` model."""
    model = _timm_model('vit_large_patch16_dinov3_qkvb', 64)
    path = _save(_official_dinov3(model), tmp_path / 'dinov3_vitl16_qkvb.pth')
    with pytest.raises(ValueError, match='_qkvb'):
        _backbone('dinov3_vitl16', path, 64)
    _assert_loads_as_timm('vit_large_patch16_dinov3_qkvb', path, model)


def test_wrong_files_raise_clear_errors(tmp_path):
    clip = _save(_openai_clip(_timm_model('clip_vitl14', 56)), tmp_path / 'clip.pth')
    with pytest.raises(RuntimeError, match='`arch`'):  # another model: its shapes
        _backbone('dinov2_vits14', clip, 56, **{**TINY, 'embed_dim': 64})
    with pytest.raises(ValueError, match=r'checkpoint 4x4 \(img_size=56\).*img_size=112'):
        _backbone('clip_vitl14', clip, 112)
    damaged = tmp_path / 'damaged.safetensors'
    _save(_timm_model('siglip_vitl16', 64).state_dict(), damaged)
    damaged.write_bytes(damaged.read_bytes()[:1000])
    with pytest.raises(CheckpointFileError, match=re.escape(str(damaged))):
        _backbone('siglip_vitl16', str(damaged), 64)
    big_vision = tmp_path / 'ViT-L-16-SigLIP-256.npz'  # JAX releases: pointed to timm's copy
    np.savez(big_vision, **{'params/img/embedding/kernel': np.zeros((16, 16, 3, 48), np.float32)})
    with pytest.raises(CheckpointFileError, match='NumPy archive.*timm'):
        _backbone('siglip_vitl16', str(big_vision), 64)
