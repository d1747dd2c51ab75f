"""Tiny DINOv2-shaped models and data for the tests: small enough that every test runs on a CPU."""
import os.path as osp
import struct
import zlib

import cv2
import numpy as np
import timm
import torch

from mmseg_adala.models.backbones import resolve_arch, timm_to_official_dinov2

# A DINOv2 ViT cut down to 2 blocks of width 48 (timm arguments: AdaLAViT's vit_cfg).
# Width 48 because giant's SwiGLU hidden size, int(width * 16 / 3), must be even.
TINY_VIT = dict(embed_dim=48, depth=2, num_heads=2)
TINY_CONFIGS = osp.join(osp.dirname(__file__), '..', '..', 'configs', 'tiny')


def tiny_teacher_state(arch: str = 'dinov2_vits14') -> dict:
    """timm's state dict of a random 2-block softmax ViT of `arch`'s family, on a 112-px grid."""
    vit = timm.create_model(resolve_arch(arch).model_name, pretrained=False, num_classes=0, global_pool='',
                            img_size=112, **TINY_VIT)
    state = vit.state_dict()
    for key in state:
        if key.endswith(('.gamma', '.gamma_1', '.gamma_2')):  # LayerScale's 1e-5 init: every block an identity
            state[key] = torch.full_like(state[key], 0.5)
        elif key.endswith('attn.qkv.weight'):  # unit-scale logits: attention that is far from uniform
            state[key] = torch.randn_like(state[key]) / TINY_VIT['embed_dim'] ** 0.5
    return state


def make_teacher_checkpoint(path: str) -> str:
    """A random softmax ViT saved in the official DINOv2 layout (with `mask_token`)."""
    torch.save(timm_to_official_dinov2(tiny_teacher_state()), path)
    return path


def make_image_folder(folder, count: int, seed: int = 0) -> str:
    """Smooth random images (enough structure for attention to be non-trivial)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        image = cv2.GaussianBlur((rng.random((96, 128, 3)) * 255).astype(np.uint8), (9, 9), 3)
        cv2.imwrite(str(folder / f'{i:03d}.jpg'), image)
    return str(folder)


def synthetic_data_options(data: str) -> list:
    """`--cfg-options` that run the tiny stage-3 config on the synthetic ADE20K set in `data`, backbone at random."""
    return [f'{split}_dataloader.dataset.data_root={data}' for split in ('train', 'val', 'test')] + [
        'model.backbone.init_cfg=None']


def write_png_header(path, width, height):
    """A PNG that declares width x height (8-bit grey) and holds only the start of its pixels: all a
    header reader needs, and what a decoder would take gigabytes for."""
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
    ihdr = struct.pack('>IIBBBBB', width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', zlib.compress(bytes(width + 1)))
                     + chunk(b'IEND', b''))
    return path
