#!/usr/bin/env bash
# Evaluation on a Slurm cluster through mmengine's slurm launcher (one task per GPU).
#   tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [--out DIR ...]
#   GPUS=16 GPUS_PER_NODE=8 tools/slurm_test.sh ...   (two nodes; see srun.sh for the other settings)
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
shift 4
exec "$(dirname "$0")/srun.sh" "$PARTITION" "$JOB_NAME" test.py "$CONFIG" "$CHECKPOINT" "$@"
