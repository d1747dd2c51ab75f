"""Shared fixtures; tiny models and data come from tests/helpers/tiny.py.

``--device cuda`` (repeatable: ``--device cpu --device cuda``) runs the tests that take the
`device` fixture (ops, backbone, segmentor, alignment, random state; marked ``device``) on
those devices; by default they run on the CPU alone. ``pytest -m device --device cuda`` runs
only those, on the GPU: the first step of tools/gpu_check.sh.

Tests marked ``slow`` (whole training runs, subprocesses that start an interpreter with mmseg,
the wheel build) dominate the suite's time: ``make test-fast`` (``pytest -m "not slow"``) skips
them for a quick check while editing; ``make test`` (and CI) runs everything.
"""
import pytest
import torch
from tiny import make_image_folder, make_teacher_checkpoint

# Session fixtures of short tiny-config runs and their checkpoints: tests/helpers/tiny_runs.py.
pytest_plugins = ['tiny_runs']


def pytest_addoption(parser):
    parser.addoption('--device', action='append', choices=('cpu', 'cuda'), default=None,
                     help='device of the tests that take the `device` fixture (repeat for several; default: cpu)')


def pytest_configure(config):
    config.addinivalue_line('markers', 'device: takes the `device` fixture (runs on each --device)')
    config.addinivalue_line('markers', 'slow: dominates the suite\'s time; `make test-fast` skips it, `make test` runs it')
    if 'cuda' in (config.getoption('device') or ()) and not torch.cuda.is_available():
        raise pytest.UsageError(f'--device cuda, but torch {torch.__version__} (CUDA {torch.version.cuda}) '
                                'sees no GPU: run without --device on this machine')


def pytest_generate_tests(metafunc):
    if 'device' in metafunc.fixturenames:
        metafunc.parametrize('device', metafunc.config.getoption('device') or ['cpu'])


def pytest_collection_modifyitems(items):
    for item in items:
        if 'device' in getattr(item, 'fixturenames', ()):
            item.add_marker('device')


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
