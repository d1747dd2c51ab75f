#!/usr/bin/env bash
# torchrun with the multi-node variables, shared by dist_train.sh and dist_test.sh.
#   tools/torchrun.sh GPUS_PER_NODE SCRIPT ARGS...   (SCRIPT: train.py or test.py in tools/)
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR (and PORT) on every node; PYTHON picks the interpreter.
# Without a GPU the processes use gloo on CPU (see mmseg_adala/engine/run_config.py).
set -euo pipefail
GPUS=$1
SCRIPT=$2
shift 2
DIR="$(cd "$(dirname "$0")" && pwd)"
PYTHONPATH="$DIR/..:${PYTHONPATH:-}" exec "${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" \
    --nproc_per_node="$GPUS" "$DIR/$SCRIPT" "$@" --launcher pytorch
