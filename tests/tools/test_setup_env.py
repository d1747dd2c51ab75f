"""tools/setup_env.sh and setup.py admit the same Pythons, and the script refuses others first."""
import glob
import os
import os.path as osp
import re
import subprocess

import pytest
from packaging.specifiers import SpecifierSet

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SUPPORTED, UNSUPPORTED = ('3.10', '3.11', '3.12'), ('3.9', '3.13')


def test_setup_py_admits_the_supported_pythons():
    python_requires = re.search(r"python_requires='([^']+)'", open(osp.join(REPO, 'setup.py')).read()).group(1)
    assert [version for version in SUPPORTED + UNSUPPORTED if version in SpecifierSet(python_requires)] \
        == list(SUPPORTED)


def _python(version):
    """An interpreter of that version on this machine (pyenv, /usr/bin), or None."""
    pyenv = os.environ.get('PYENV_ROOT', osp.expanduser('~/.pyenv'))
    found = sorted(glob.glob(f'{pyenv}/versions/{version}.*/bin/python{version}') +
                   glob.glob(f'/usr/bin/python{version}') + glob.glob(f'/usr/local/bin/python{version}'))
    return found[0] if found else None


@pytest.mark.parametrize('version', UNSUPPORTED)
def test_setup_env_refuses_an_unsupported_python(version, tmp_path):
    python = _python(version)
    if python is None:
        pytest.skip(f'no Python {version} here')
    result = subprocess.run(['bash', osp.join(REPO, 'tools', 'setup_env.sh')], capture_output=True, text=True,
                            env=dict(PATH='/usr/bin:/bin', HOME=str(tmp_path), PYTHON=python,
                                     ADALA_VENV=str(tmp_path / 'venv')))
    assert result.returncode == 1
    assert f'is Python {version}; mmseg-adala supports Python 3.10-3.12' in result.stderr
    assert not (tmp_path / 'venv').exists()
