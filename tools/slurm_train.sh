#!/usr/bin/env bash
# Training on a Slurm cluster through mmengine's slurm launcher (one task per GPU).
#   tools/slurm_train.sh PARTITION JOB_NAME CONFIG [--work-dir DIR ...]
#   GPUS=16 GPUS_PER_NODE=8 tools/slurm_train.sh ...   (two nodes)
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
shift 3
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
DIR="$(cd "$(dirname "$0")" && pwd)"
PYTHONPATH="$DIR/..:${PYTHONPATH:-}" exec srun -p "$PARTITION" --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" --ntasks="$GPUS" --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" --kill-on-bad-exit=1 ${SRUN_ARGS:-} \
    "${PYTHON:-python}" -u "$DIR/train.py" "$CONFIG" --launcher slurm "$@"
