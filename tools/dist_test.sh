#!/usr/bin/env bash
# Multi-GPU / multi-node evaluation (torchrun + mmengine's pytorch launcher).
#   tools/dist_test.sh CONFIG CHECKPOINT 8 [--out DIR ...]   (multi-node: as in dist_train.sh)
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
shift 3
exec "$(dirname "$0")/torchrun.sh" "$GPUS" test.py "$CONFIG" "$CHECKPOINT" "$@"
