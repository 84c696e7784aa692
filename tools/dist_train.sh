#!/usr/bin/env bash
# Distributed training with torchrun, one process per GPU (or per CPU worker).
#   bash tools/dist_train.sh CONFIG GPUS [train.py options]
# Several nodes: run it on each node with the same MASTER_ADDR/PORT, e.g.
#   NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 PORT=29500 bash tools/dist_train.sh CONFIG 8
#   NNODES=2 NODE_RANK=1 MASTER_ADDR=10.0.0.1 PORT=29500 bash tools/dist_train.sh CONFIG 8
# DMS_DRY_RUN=1 prints the command instead of running it.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 CONFIG GPUS [train.py options]" >&2
  exit 2
fi
CONFIG=$1
GPUS=$2
shift 2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}
HERE=$(cd "$(dirname "$0")" && pwd)

CMD=("$PYTHON" -m torch.distributed.run
  --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR"
  --nproc_per_node="$GPUS" --master_port="$PORT"
  "$HERE/train.py" "$CONFIG" --launcher pytorch "$@")
if [ "${DMS_DRY_RUN:-0}" = "1" ]; then
  printf '%q ' "${CMD[@]}"; echo
  exit 0
fi
PYTHONPATH="$HERE/..${PYTHONPATH:+:$PYTHONPATH}" exec "${CMD[@]}"
