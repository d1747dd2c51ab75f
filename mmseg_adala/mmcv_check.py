"""Stops `import mmseg_adala` when mmcv has no compiled ops, with the way to get them.

PyPI has only mmcv's source, and `pip install -e .` alone builds it without ops
(`MMCV_WITH_OPS` unset) or not at all (setuptools>=81 removed the `pkg_resources` its
setup.py imports). mmseg then fails at import deep inside `mmcv.ops` with
`No module named 'mmcv._ext'`, which names neither the cause nor the fix.
"""
import importlib

MMCV_VERSION = '2.1.0'  # the pin of setup.py and tools/setup_env.sh

HOW_TO_BUILD = f"""\
mmseg-adala needs mmcv {MMCV_VERSION} with its compiled ops (mmcv.ops, which MMSegmentation imports); \
importing them failed: {{error}}
`pip install -e .` alone cannot build them. Either run tools/setup_env.sh (or `make setup`): a .venv \
with the known-good stack, the mmcv wheel built once and cached; or, in your own environment with torch \
installed (~15 minutes on 2 cores):
    pip install 'setuptools<81' wheel ninja
    MMCV_WITH_OPS=1 pip install --no-build-isolation --no-cache-dir --force-reinstall --no-deps mmcv=={MMCV_VERSION}
    pip install -e .
"""


def require_mmcv_ops() -> None:
    """Raise ImportError with `HOW_TO_BUILD` if `mmcv.ops` does not import."""
    try:
        importlib.import_module('mmcv.ops')
    except ImportError as error:
        raise ImportError(HOW_TO_BUILD.format(error=error)) from error
