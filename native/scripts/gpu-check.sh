#!/usr/bin/env bash
# Kept for old notes: the build, correctness, attention and prefill steps of gpu-run.sh, the one
# command for a GPU host (see its header):
#   native/scripts/gpu-check.sh OUT_DIR  ==  gpu-run.sh --steps preflight,build,correctness,attention,prefill OUT_DIR
# KVR_GPU_CHECK_BUDGET_S (default 330) is its --budget-s.
set -uo pipefail
[[ $# -eq 1 ]] || { echo "usage: $0 OUT_DIR (prefer native/scripts/gpu-run.sh)" >&2; exit 2; }
exec bash "$(dirname "$0")/gpu-run.sh" --budget-s "${KVR_GPU_CHECK_BUDGET_S:-330}" \
  --steps preflight,build,correctness,attention,prefill "$1"
