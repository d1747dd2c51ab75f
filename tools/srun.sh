#!/usr/bin/env bash
# srun, one task per GPU, with mmengine's slurm launcher: shared by slurm_train.sh and slurm_test.sh.
#   tools/srun.sh PARTITION JOB_NAME SCRIPT ARGS...   (SCRIPT: train.py or test.py in tools/)
# GPUS (default 8) tasks in all, GPUS_PER_NODE (8) per node, CPUS_PER_TASK (5); SRUN_ARGS are
# passed to srun and PYTHON picks the interpreter.
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
SCRIPT=$3
shift 3
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
DIR="$(cd "$(dirname "$0")" && pwd)"
# SRUN_ARGS unquoted on purpose: it holds several srun options.
PYTHONPATH="$DIR/..:${PYTHONPATH:-}" exec srun -p "$PARTITION" --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" --ntasks="$GPUS" --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" --kill-on-bad-exit=1 ${SRUN_ARGS:-} \
    "${PYTHON:-python}" -u "$DIR/$SCRIPT" "$@" --launcher slurm
