"""A wheel of the project carries every config, and its entry points find them by name.

The wheel is built from a copy of the sources (so the clone gets no build/ folder) and
unpacked, which for a pure-Python wheel is what pip would install; the entry points then run
from there, with no clone on the path.

Top-level: it checks the repository's packaging (setup.py, configs/), not a package module.
"""
import glob
import os
import os.path as osp
import shutil
import subprocess
import sys
import zipfile

import pytest

# Builds a wheel (pip) and starts the entry points from it.
pytestmark = pytest.mark.slow

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SHIPPED = 'mmseg_adala/.mim/configs/'


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    source = tmp_path_factory.mktemp('source')
    for name in ('setup.py', 'README.md'):
        shutil.copy(osp.join(REPO, name), source)
    for name in ('mmseg_adala', 'configs'):
        shutil.copytree(osp.join(REPO, name), source / name, ignore=shutil.ignore_patterns('__pycache__'))
    out = tmp_path_factory.mktemp('wheel')
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '--no-cache-dir',
                    '-q', str(source), '-w', str(out)], check=True, cwd=source)
    return glob.glob(str(out / 'mmseg_adala-*.whl'))[0]


def test_wheel_ships_every_config(wheel):
    configs = sorted(osp.relpath(path, osp.join(REPO, 'configs'))
                     for path in glob.glob(osp.join(REPO, 'configs', '**', '*.py'), recursive=True))
    shipped = sorted(name[len(SHIPPED):] for name in zipfile.ZipFile(wheel).namelist() if name.startswith(SHIPPED))
    assert len(configs) > 30 and shipped == configs


@pytest.mark.parametrize('entry, arguments', [
    ('mmseg_adala.train', []),
    ('mmseg_adala.test', ['no_checkpoint.pth']),
])
def test_entry_point_of_the_wheel_finds_a_config_by_name(entry, arguments, wheel, tmp_path):
    installed = tmp_path / 'site-packages'
    zipfile.ZipFile(wheel).extractall(installed)
    # An unknown --cfg-options key is refused once the config is loaded (its mmseg:: and
    # relative _base_ files included), before any model is built.
    result = subprocess.run([sys.executable, '-m', entry, 'adala_dinov2_l_ade20k.py', *arguments,
                             '--cfg-options', 'no_such_key=1'], capture_output=True, text=True, cwd=tmp_path,
                            env=dict(os.environ, PYTHONPATH=str(installed)))
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (f"{entry.split('.')[-1]}.py: --cfg-options no_such_key: neither the "
                                              "config nor the Runner has a key 'no_such_key'; nothing would read it")
