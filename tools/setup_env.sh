#!/usr/bin/env bash
# Builds the project-local virtual environment (.venv) with a known-good stack.
#
# Why a script and not just `pip install -e .`: mmseg 1.2.2 needs full mmcv (mmcv.ops), PyPI
# only has mmcv's source, the build takes ~12 minutes, and pip's wheel cache does not key on
# the torch version (a wheel built for another torch fails at import). So the mmcv wheel is
# built once per (python, torch, CUDA) and kept in a cache folder outside the clone.
#
# Environment:
#   ADALA_VENV          where the venv goes (default: .venv in the repository)
#   ADALA_CACHE         wheel cache (default: ${XDG_CACHE_HOME:-~/.cache}/mmseg-adala)
#   ADALA_SYSTEM_TORCH  =1: keep the torch/torchvision of the python that runs this script
#                       (e.g. a CUDA build); the venv then sees that python's site-packages.
#   PYTHON              the python to build the venv from (default: python3)
#   ADALA_WHEELS        offline: install from this folder of wheels alone (see the offline block)
#   ADALA_MMCV_CUDA_OPS =0: build mmcv's CPU ops only, even with a GPU and nvcc present
set -euo pipefail

TORCH_VERSION=2.12.1
TORCHVISION_VERSION=0.27.1
MMCV_VERSION=2.1.0
# setuptools 81 removed pkg_resources, which mmcv's setup.py imports.
SETUPTOOLS_SPEC='setuptools<81'

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ADALA_VENV:-$ROOT/.venv}"
CACHE="${ADALA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmseg-adala}"
PYTHON="${PYTHON:-python3}"
START=$SECONDS

step() { printf '\n==> [setup %3ds] %s\n' "$((SECONDS - START))" "$*"; }
fail() {
    printf '\nSET-UP FAILED: %s\n' "$1" >&2
    [ $# -gt 1 ] && printf 'What to do: %s\n' "$2" >&2
    exit 1
}

step "Checking the base python ($PYTHON)"
# The range of setup.py's python_requires: torch $TORCH_VERSION has no wheels for 3.9, and
# mmcv $MMCV_VERSION's build is untested on 3.13.
PYTHON_VERSION="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" ||
    fail "$PYTHON is missing." "install Python 3.10-3.12 or set PYTHON=/path/to/python3."
"$PYTHON" -c 'import sys; assert (3, 10) <= sys.version_info[:2] <= (3, 12)' 2>/dev/null ||
    fail "$PYTHON is Python $PYTHON_VERSION; mmseg-adala supports Python 3.10-3.12 (torch $TORCH_VERSION has no wheels for 3.9, 3.13 is untested with mmcv $MMCV_VERSION)." \
         "install Python 3.10-3.12 (tested: 3.11) or set PYTHON=/path/to/python3.10-3.12."
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null ||
    fail "$PYTHON cannot create virtual environments." "install the venv module (Debian: apt-get install python3-venv)."

if [ ! -x "$VENV/bin/python" ]; then
    step "Creating the virtual environment $VENV"
    venv_args=()
    [ "${ADALA_SYSTEM_TORCH:-0}" = 1 ] && venv_args+=(--system-site-packages)
    "$PYTHON" -m venv "${venv_args[@]}" "$VENV" || fail "could not create $VENV." "check disk space and permissions, then rerun."
fi
PY="$VENV/bin/python"
pip_install() { "$PY" -m pip install --disable-pip-version-check -q "$@"; }

# --- Offline set-up, for a GPU machine that reaches no package index (tools/gpu_check.sh) ---
# Its python brings torch, torchvision, numpy, opencv, matplotlib, scipy (ADALA_SYSTEM_TORCH=1);
# ADALA_WHEELS holds the rest, as `tools/gpu_check.sh --fetch-wheels` downloads it: pure-python
# wheels and mmcv's source. pip reads only that folder and resolves no dependencies (mmengine asks
# for opencv-python by name; such machines have opencv-python-headless): the import check at the
# end proves the environment instead. ADALA_MMCV_CUDA_OPS=0: the GPU check calls none of mmcv's
# CUDA ops, which take far longer to compile than its CPU ops, and mmcv's setup.py compiles them
# whenever torch sees a GPU, whatever FORCE_CUDA says: the set-up then sees none.
if [ "${ADALA_MMCV_CUDA_OPS:-auto}" = 0 ]; then
    export CUDA_VISIBLE_DEVICES=
fi
if [ -n "${ADALA_WHEELS:-}" ]; then
    ls "$ADALA_WHEELS"/*.whl >/dev/null 2>&1 && ls "$ADALA_WHEELS"/mmcv-*.tar.gz >/dev/null 2>&1 ||
        fail "ADALA_WHEELS=$ADALA_WHEELS holds no wheels or no mmcv source." \
             "run 'tools/gpu_check.sh --fetch-wheels $ADALA_WHEELS' on a machine with PyPI, or unset ADALA_WHEELS."
    export PIP_NO_INDEX=1 PIP_FIND_LINKS="$ADALA_WHEELS" PIP_NO_DEPS=1
    step "Installing the wheels of $ADALA_WHEELS (offline, without their dependencies)"
    pip_install "$ADALA_WHEELS"/*.whl || fail "pip could not install the wheels of $ADALA_WHEELS." \
        "fetch them again with 'tools/gpu_check.sh --fetch-wheels $ADALA_WHEELS' for this machine's Python."
fi
# --- end of the offline set-up ---

step "Installing build tools ($SETUPTOOLS_SPEC, wheel)"
pip_install --upgrade pip "$SETUPTOOLS_SPEC" wheel || fail "pip could not install build tools." "check the network access to PyPI."

if [ "${ADALA_SYSTEM_TORCH:-0}" = 1 ]; then
    step "Using the existing torch (ADALA_SYSTEM_TORCH=1)"
    "$PY" - <<'EOF' || fail "no usable torch/torchvision in the base python." "install torch>=2.5,<2.14 with its matching torchvision there, or unset ADALA_SYSTEM_TORCH."
import torch, torchvision
major, minor = (int(x) for x in torch.__version__.split('.')[:2])
assert (major, minor) >= (2, 5), f'torch {torch.__version__}: mmseg-adala needs torch>=2.5 (torch.OutOfMemoryError)'
assert (major, minor) < (2, 14), f'torch {torch.__version__}: mmcv 2.1.0 cannot build against torch>=2.14 (C++20 headers)'
print(f'torch {torch.__version__}, torchvision {torchvision.__version__}')
EOF
else
    step "Installing torch $TORCH_VERSION + torchvision $TORCHVISION_VERSION (first time: ~2.6 GB download)"
    pip_install "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION" "$SETUPTOOLS_SPEC" ||
        fail "pip could not install torch $TORCH_VERSION." "check the network access to PyPI and the free disk space (~6 GB)."
fi

# The wheel is only valid for this exact python, torch and CUDA: its folder name says so.
TAG="$("$PY" -c 'import sys, torch; v = sys.version_info; t = torch.__version__.replace("+", "_"); print(f"py{v[0]}{v[1]}-torch{t}-cuda{torch.version.cuda or 0}")')"
WITH_CUDA="$("$PY" -c 'import torch; from torch.utils.cpp_extension import CUDA_HOME; print(int(torch.cuda.is_available() and CUDA_HOME is not None))')"
[ "$WITH_CUDA" = 1 ] && TAG="$TAG-cudaops"
WHEEL_DIR="$CACHE/mmcv-$MMCV_VERSION/$TAG"

if ! "$PY" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '$MMCV_VERSION'" 2>/dev/null; then
    if ! ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
        step "Building mmcv $MMCV_VERSION with its compiled ops (CUDA ops: $WITH_CUDA). This takes ~12 minutes on 2 cores, once per torch version; the wheel is kept in $WHEEL_DIR"
        pip_install ninja psutil || true  # optional: ninja speeds the build up
        build_dir="$(mktemp -d)"
        # --no-cache-dir: pip's wheel cache ignores the torch version (see the header). mmcv's
        # setup.py compiles CUDA ops whenever torch sees a GPU, whatever FORCE_CUDA says. -g0
        # overrides Python's -g: without debug information the compiler is much faster, and the
        # wheel about 2 MB instead of 33.
        no_gpu=()
        [ "$WITH_CUDA" = 1 ] || no_gpu=(CUDA_VISIBLE_DEVICES=)
        env "${no_gpu[@]}" CFLAGS="${CFLAGS:-} -g0" MMCV_WITH_OPS=1 FORCE_CUDA="$WITH_CUDA" \
            MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
            "$PY" -m pip wheel --disable-pip-version-check --no-build-isolation --no-deps --no-cache-dir \
            "mmcv==$MMCV_VERSION" -w "$build_dir" ||
            fail "the mmcv $MMCV_VERSION build failed (see the compiler output above)." \
                 "make sure gcc/g++ and the Python headers are installed (Debian: apt-get install build-essential python3-dev), then rerun."
        mkdir -p "$WHEEL_DIR"
        mv "$build_dir"/mmcv-*.whl "$WHEEL_DIR"/  # a finished wheel only: an interrupted build leaves no half file
        rm -rf "$build_dir"
    else
        step "Reusing the cached mmcv wheel from $WHEEL_DIR"
    fi
    pip_install "$WHEEL_DIR"/mmcv-*.whl || fail "could not install the cached mmcv wheel." "delete $WHEEL_DIR and rerun to rebuild it."
fi

step "Installing mmengine, mmsegmentation, timm and mmseg-adala (editable)"
pip_install -e "$ROOT[tests]" "$SETUPTOOLS_SPEC" || fail "pip could not install the project's requirements." "check the network access to PyPI."

step "Installing mmdet for the Mask2Former configs (the [mask2former] extra)"
# mmseg's Mask2FormerHead subclasses mmdet's and silently becomes an empty module without it.
pip_install -e "$ROOT[mask2former]" "$SETUPTOOLS_SPEC" ||
    fail "pip could not install mmdet (the [mask2former] extra)." "check the network access to PyPI."
"$PY" -c "import mmcv, mmengine, mmdet; from mmseg.models.decode_heads.mask2former_head import MMDET_Mask2FormerHead as base; assert base.__module__.startswith('mmdet'), base; assert mmcv.__version__ == '$MMCV_VERSION', mmcv.__version__; print('mmdet', mmdet.__version__, '| mmengine', mmengine.__version__)" ||
    fail "mmdet is installed but mmseg's Mask2FormerHead does not import it (see the error above)." "rerun this script; if it persists, delete $VENV and rerun."

step "Checking the installation"
"$PY" -c "import mmseg_adala, mmseg.models, mmcv.ops, timm, torchvision; import torch; print('torch', torch.__version__, '| mmcv', mmcv.__version__, '| mmseg', mmseg.__version__, '| timm', timm.__version__)" ||
    fail "the environment does not import." "rerun this script; if it persists, delete $VENV and $WHEEL_DIR and rerun."
step "Done: activate with 'source $VENV/bin/activate'"
