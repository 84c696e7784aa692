#!/usr/bin/env bash
# Distributed testing with torchrun, one process per GPU (or per CPU worker).
#   bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py options]
# NNODES, NODE_RANK, MASTER_ADDR and PORT work as in dist_train.sh.
# DMS_DRY_RUN=1 prints the command instead of running it.
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 CONFIG CHECKPOINT GPUS [test.py options]" >&2
  exit 2
fi
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
shift 3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}
HERE=$(cd "$(dirname "$0")" && pwd)

CMD=("$PYTHON" -m torch.distributed.run
  --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR"
  --nproc_per_node="$GPUS" --master_port="$PORT"
  "$HERE/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "$@")
if [ "${DMS_DRY_RUN:-0}" = "1" ]; then
  printf '%q ' "${CMD[@]}"; echo
  exit 0
fi
PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}" exec "${CMD[@]}"
