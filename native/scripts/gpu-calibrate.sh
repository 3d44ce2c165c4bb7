#!/usr/bin/env bash
# Kept for old notes: the calibration steps of gpu-run.sh, the one command for a GPU host (see its
# header): the attention bench (which picks the tiling calibration then times), whole-GPU
# calibration and validation, then green-context slices:
#   native/scripts/gpu-calibrate.sh OUT_DIR  ==  gpu-run.sh --steps preflight,build,attention,calibrate,slices OUT_DIR
# KVR_GPU_CALIBRATE_BUDGET_S (default 450) is its --budget-s; KVR_SM_PARTITIONS (8) and
# KVR_GPU_NAME pass through.
set -uo pipefail
[[ $# -eq 1 ]] || { echo "usage: $0 OUT_DIR (prefer native/scripts/gpu-run.sh)" >&2; exit 2; }
exec bash "$(dirname "$0")/gpu-run.sh" --budget-s "${KVR_GPU_CALIBRATE_BUDGET_S:-450}" \
  --steps preflight,build,attention,calibrate,slices "$1"
