#!/usr/bin/env bash
# The GPU acceptance check in one command, for a fresh CUDA machine that reaches no package index:
#
#   tools/gpu_check.sh --budget-s 540 --out DIR   set up, then mmseg_adala/benchmark/gpu_check.py's
#                                                 steps; DIR gets gpu_check.{json,md,log} and setup.log
#   tools/gpu_check.sh --fetch-wheels [DIR]       beforehand, where PyPI is reachable: fill DIR
#                                                 (default .whl/, git-ignored) for the offline set-up
#
# Without a GPU the same steps run at tiny sizes (CI does so). The budget counts from this
# script's start, the set-up included; other arguments go to the Python module (--profile, --steps).
#
# The set-up, the fastest honest one: none if PYTHON (default python3) or .venv imports the
# project already. Otherwise tools/setup_env.sh installs into the environment of the python that
# has the machine's CUDA torch (ADALA_SYSTEM_TORCH=1; into that venv itself where python3 is a
# venv, as on the lent GPU machines: a venv made from it would not see its torch), from .whl/
# alone where it exists, and builds mmcv from the carried source with its CPU ops only
# (ADALA_MMCV_CUDA_OPS=0): no step here calls mmcv's CUDA ops, which take far longer to compile.
# The mmcv wheel built is copied into DIR: put it back where setup.json says (under .whl/cache/)
# and the next fresh machine of the same python and torch skips the build.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
START="$(date +%s)"
PYTHON="${PYTHON:-python3}"
MMCV_VERSION=2.1.0
# What the GPU machines' image lacks (its python has torch, torchvision, numpy, opencv, scipy,
# matplotlib, rich, regex, pyyaml, safetensors, pytest): pure-python wheels, and mmcv's source.
WHEELS=(mmengine==0.10.7 mmsegmentation==1.2.2 'timm>=1.0.23,<2' ftfy wcwidth addict yapf platformdirs termcolor
        prettytable 'setuptools<81' wheel)

die() { printf 'gpu_check.sh: %s\n' "$1" >&2; exit 2; }

fetch_wheels() {
    local dir="$1" target="${ADALA_TARGET_PYTHON:-3.12}" python="$PYTHON"
    # mmcv's source needs a python with torch to be downloaded: .venv's, where there is one.
    [ -x "$ROOT/.venv/bin/python" ] && python="$ROOT/.venv/bin/python"
    mkdir -p "$dir" || die "cannot create $dir"
    "$python" -m pip download --disable-pip-version-check -q --no-deps --only-binary=:all: \
        --python-version "$target" --implementation cp --platform manylinux2014_x86_64 -d "$dir" "${WHEELS[@]}" ||
        die "pip could not download the wheels for Python $target (ADALA_TARGET_PYTHON) into $dir"
    # pip builds an sdist's metadata on download, and mmcv's setup.py imports torch: no isolation.
    "$python" -m pip download --disable-pip-version-check -q --no-deps --no-binary=:all: --no-build-isolation \
        -d "$dir" "mmcv==$MMCV_VERSION" || die "pip could not download mmcv $MMCV_VERSION's source into $dir"
    du -sh "$dir"
}

BUDGET=540
OUT=
PASS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --budget-s) BUDGET="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --fetch-wheels)
            if [ $# -gt 1 ] && [ "${2#--}" = "$2" ]; then fetch_wheels "$2"; else fetch_wheels "$ROOT/.whl"; fi
            exit ;;
        -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) PASS+=("$1"); shift ;;
    esac
done
[ -n "$OUT" ] || die "--out DIR is required (where the report goes)"
mkdir -p "$OUT" || die "cannot create $OUT"
OUT="$(cd "$OUT" && pwd)"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"  # this checkout's code, whatever is installed

imports() { "$1" -c 'import mmseg_adala, mmcv.ops' >/dev/null 2>&1; }

# record STATUS REASON [KEY=VALUE ...]: setup.json, the set-up's record in the report
record() {
    "$PY" - "$OUT/setup.json" "$(($(date +%s) - START))" "$@" <<'EOF'
import json, sys
path, seconds, status, reason, *details = sys.argv[1:]
json.dump(dict(name='setup', status=status, reason=reason, seconds=float(seconds),
               details=dict(item.split('=', 1) for item in details)), open(path, 'w'), indent=2)
EOF
}

# The report of a check whose set-up failed: the steps cannot run without the stack.
report_failed_setup() {
    "$PY" - "$OUT" <<'EOF'
import json, os, sys
out = sys.argv[1]
setup = json.load(open(os.path.join(out, 'setup.json')))
steps = [setup] + [dict(name=name, status='skipped', reason='the set-up failed', seconds=0.0, details={})
                   for name in ('tests', 'backbone', 'segmentor', 'stages')]
json.dump(dict(steps=steps), open(os.path.join(out, 'gpu_check.json'), 'w'), indent=2)
with open(os.path.join(out, 'gpu_check.md'), 'w') as md:
    md.write(f'# GPU check\n\n**FAILED: setup**\n\n{setup["reason"]}\n\nThe log is setup.log.\n')
EOF
    cat "$OUT/gpu_check.md" >&2
}

PY="$PYTHON"
if imports "$PYTHON"; then
    record skipped "already set up: $PYTHON imports mmseg_adala and mmcv.ops"
elif [ -x "$ROOT/.venv/bin/python" ] && imports "$ROOT/.venv/bin/python"; then
    PY="$ROOT/.venv/bin/python"
    record skipped "already set up: .venv imports mmseg_adala and mmcv.ops"
else
    venv="$ROOT/.venv"
    setup_env=(ADALA_MMCV_CUDA_OPS=0 PYTHON="$PYTHON")
    mode=online
    if "$PYTHON" -c 'import torch, torchvision' 2>/dev/null; then
        setup_env+=(ADALA_SYSTEM_TORCH=1)
        prefix="$("$PYTHON" -c 'import sys; print(sys.prefix if sys.prefix != sys.base_prefix else "")')"
        [ -n "$prefix" ] && [ -w "$prefix" ] && venv="$prefix"
    fi
    setup_env+=(ADALA_VENV="$venv")
    if ls "$ROOT"/.whl/*.whl >/dev/null 2>&1; then
        setup_env+=(ADALA_WHEELS="$ROOT/.whl" ADALA_CACHE="$ROOT/.whl/cache")
        mode="offline from .whl/"
    fi
    echo "gpu_check.sh: setting up ($mode): ${setup_env[*]} tools/setup_env.sh > $OUT/setup.log" >&2
    env "${setup_env[@]}" timeout "$BUDGET" bash "$ROOT/tools/setup_env.sh" >"$OUT/setup.log" 2>&1
    rc=$?
    [ -x "$venv/bin/python" ] && PY="$venv/bin/python"
    details=(mode="$mode" env="${setup_env[*]}" python="$PY" log=setup.log)
    wheel="$(ls -t "$ROOT"/.whl/cache/mmcv-$MMCV_VERSION/*/mmcv-*.whl 2>/dev/null | head -n 1)"
    if [ -n "$wheel" ] && [ "$(stat -c %s "$wheel")" -lt 16000000 ]; then  # what comes back from a lent machine
        cp "$wheel" "$OUT/" && details+=(mmcv_wheel="$(basename "$wheel")" mmcv_wheel_goes_to="${wheel#"$ROOT/"}")
    fi
    if [ $rc -ne 0 ]; then
        why="$(grep -m 1 -A 1 'SET-UP FAILED' "$OUT/setup.log" | tr '\n' ' ')"
        [ $rc -eq 124 ] && why="stopped at the time budget of $BUDGET s"
        record failed "tools/setup_env.sh exited with $rc: ${why:-see setup.log}" "${details[@]}"
        report_failed_setup
        exit 1
    fi
    record done "tools/setup_env.sh ($mode)" "${details[@]}"
fi

export GPU_CHECK_COMMAND="tools/gpu_check.sh --budget-s $BUDGET --out $OUT${PASS[*]:+ ${PASS[*]}}"
exec "$PY" -m mmseg_adala.benchmark.gpu_check --out "$OUT" --budget-s "$BUDGET" --started-at "$START" \
    --setup-record "$OUT/setup.json" "${PASS[@]}"
