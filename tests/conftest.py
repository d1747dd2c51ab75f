"""Shared fixtures; tiny models and data come from tiny.py."""
import pytest
import torch
from tiny import make_image_folder, make_teacher_checkpoint


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope='session')
def teacher_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    return make_teacher_checkpoint(str(tmp_path_factory.mktemp('teacher') / 'dinov2_tiny_pretrain.pth'))


@pytest.fixture(scope='session')
def image_folders(tmp_path_factory):
    """(train, val) folders of unlabeled images."""
    root = tmp_path_factory.mktemp('images')
    return make_image_folder(root / 'train', 12), make_image_folder(root / 'val', 4, seed=1)
