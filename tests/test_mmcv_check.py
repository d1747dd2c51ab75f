"""mmseg_adala/mmcv_check.py: `import mmseg_adala` without mmcv's compiled ops fails at once and says
how to build them."""
import subprocess
import sys

import pytest


@pytest.mark.parametrize('missing', [
    'mmcv._ext',  # mmcv installed from source without MMCV_WITH_OPS=1: mmcv.ops fails to load its extension
    'mmcv',  # mmcv not installed at all (its build failed, e.g. on setuptools>=81)
])
def test_import_without_mmcv_ops_says_how_to_build_them(missing):
    code = f'import sys; sys.modules[{missing!r}] = None; import mmseg_adala'
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert 'mmseg_adala/mmcv_check.py' in result.stderr  # ours, raised before mmseg is imported
    assert not any('mmseg/' in line for line in result.stderr.splitlines() if line.lstrip().startswith('File '))
    assert 'ImportError: mmseg-adala needs mmcv 2.1.0 with its compiled ops (mmcv.ops, which MMSegmentation ' \
           'imports); importing them failed: ' in result.stderr
    assert 'tools/setup_env.sh' in result.stderr
    assert 'MMCV_WITH_OPS=1 pip install --no-build-isolation' in result.stderr
