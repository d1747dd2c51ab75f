#!/usr/bin/env bash
# Training on a Slurm cluster through mmengine's slurm launcher (one task per GPU).
#   tools/slurm_train.sh PARTITION JOB_NAME CONFIG [--work-dir DIR ...]
#   GPUS=16 GPUS_PER_NODE=8 tools/slurm_train.sh ...   (two nodes; see srun.sh for the other settings)
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
shift 3
exec "$(dirname "$0")/srun.sh" "$PARTITION" "$JOB_NAME" train.py "$CONFIG" "$@"
