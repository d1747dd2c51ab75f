"""Shared test settings: tiny DINOv2-shaped ViTs so every test runs in seconds on CPU."""
import pytest
import torch

# A DINOv2 ViT cut down to 2 blocks of width 48 (timm arguments: AdaLAViT's vit_cfg).
# Width 48 because giant's SwiGLU hidden size, int(width * 16 / 3), must be even.
TINY_VIT = dict(embed_dim=48, depth=2, num_heads=2)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
