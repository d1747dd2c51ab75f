#!/usr/bin/env bash
# Multi-GPU / multi-node training (torchrun + mmengine's pytorch launcher).
#   one node:   tools/dist_train.sh CONFIG 8 [--work-dir DIR ...]
#   two nodes:  NNODES=2 NODE_RANK=0 MASTER_ADDR=host0 tools/dist_train.sh CONFIG 8   (on host0)
#               NNODES=2 NODE_RANK=1 MASTER_ADDR=host0 tools/dist_train.sh CONFIG 8   (on host1)
set -euo pipefail
CONFIG=$1
GPUS=$2
shift 2
exec "$(dirname "$0")/torchrun.sh" "$GPUS" train.py "$CONFIG" "$@"
