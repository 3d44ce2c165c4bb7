#!/usr/bin/env bash
# The one command for a GPU host (CUDA toolkit, cuBLAS, NCCL, PyTorch; no Node needed, no network):
#   native/scripts/gpu-run.sh [--budget-s N] [--steps a,b,...] [--archive FILE] [--dry-run] OUT_DIR
# Runs, in this order, each step under its own budget (seconds at the default 480 s total; they
# scale with --budget-s) and never past the total:
#   1 preflight     30  driver, GPU name, SMs, memory, nvcc, cmake, ninja, compilers, PyTorch, NCCL,
#                       Node; prints what will run and what will be skipped, and why
#   2 probe         60  the PyTorch probe: calibration/probe/torch_probe.py --out OUT/probe.json
#                       --budget-s N (the most valuable data if all else fails)
#   3 build        100  kvr-exec (and the Node addon when Node is carried) into build-gpu/: cmake +
#                       ninja, else cmake + Makefiles, else native/scripts/build-plain.sh (nvcc + g++)
#   4 correctness   35  kvr-exec compare: CUDA fp16 against CPU fp32 last-token logits on every
#                       native/scripts/plans/check-*.json, pass at max relative error <= 2e-2
#   5 attention     45  kvr-exec bench-attention against PyTorch SDPA (torch_baseline.py); picks the
#                       fastest flash tiling whose output passed the check (state KVR_CUDA_ATTENTION)
#   6 calibrate    130  whole GPU, with the tiling step 5 picked (KVR_CUDA_ATTENTION; the default
#                       when step 5 did not run or none passed): kvr calibrate (llama2-7b) then
#                       kvr validate (single at 1k-16k; tsp, kvr-e and kvr-s over 2.. GPUs when the
#                       host has them)
#   7 prefill       60  llama2-7b single-GPU prefill, kvr-exec against PyTorch eager, 1k-16k
#   8 slices      rest  green-context SM partitions: compare, paced links, slice calibration and
#                       validation; only if 60 s or more are left
# Every step writes OUT_DIR/<n>-<step>.json (1-preflight.json ...) as soon as it ends (schema
# kvr-gpu-run/step@1: status ok, failed, timeout, skipped or interrupted; rc, elapsed_s, limit_s,
# why, and "finished": what it completed, also when its timeout killed it or gpu-run was
# interrupted), its output to OUT_DIR/<step>/ and OUT_DIR/<step>.log; one line per
# step in OUT_DIR/steps.jsonl; OUT_DIR/summary.json (kvr-gpu-run@1) at the end, also when
# interrupted, and --archive FILE then packs OUT_DIR into FILE (.tgz), for the device tool, which
# brings back 8 files at most.
# --steps runs only the named steps (gpu-check.sh and gpu-calibrate.sh are such subsets).
# --dry-run puts the shims of test/native/gpu-run-shims (nvidia-smi, nvcc, cmake, ninja, python3,
# node, kvr-exec) first on PATH and builds into OUT_DIR/build-dry: the whole sequence runs without a
# GPU, in CI (test/native/gpu-run.test.ts). It never changes GPU settings (no MIG, clocks, compute
# mode, MPS or reset), here or anywhere.
# Environment: CUDA_HOME (/usr/local/cuda), KVR_EXEC (use this kvr-exec, skip the build),
# KVR_GPU_NAME (profile name; else h200/h100-sxm/... from nvidia-smi), KVR_GPU_RUN_PYTHON (python3),
# KVR_GPU_RUN_PROBE (the probe script), KVR_SM_PARTITIONS (8, for the slices).
set -uo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
self="$root/native/scripts/gpu-run.sh"
# attention before calibrate: calibration must time the tiling that the prefills and runs will use.
ALL_STEPS=(preflight probe build correctness attention calibrate prefill slices)
# Budgets in seconds at a 480 s total; slices takes what is left.
declare -A WEIGHT=([preflight]=30 [probe]=60 [build]=100 [correctness]=35 [attention]=45 [calibrate]=130
  [prefill]=60 [slices]=0)
SLICES_MIN_S=60
THRESHOLD=2e-2

die() {
  echo "gpu-run: $*" >&2
  exit 2
}

# --- internal: one step, in its own process (run under timeout by the parent) ------------------
if [[ "${1:-}" == --run-step ]]; then
  [[ $# -eq 2 ]] || die "--run-step is internal"
  # shellcheck source=lib/gpu-run-steps.sh
  source "$root/native/scripts/lib/gpu-run-steps.sh"
  run_step_body "$2"
  exit $?
fi

budget=480 dry=0 only="" archive="" out_arg=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --budget-s) [[ $# -ge 2 ]] || die "--budget-s needs a number of seconds"; budget="$2"; shift 2 ;;
    --budget-s=*) budget="${1#*=}"; shift ;;
    --steps) [[ $# -ge 2 ]] || die "--steps needs a list"; only="$2"; shift 2 ;;
    --steps=*) only="${1#*=}"; shift ;;
    --archive) [[ $# -ge 2 ]] || die "--archive needs a file"; archive="$2"; shift 2 ;;
    --dry-run) dry=1; shift ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [[ -z "$out_arg" ]] || die "one OUT_DIR only (got '$out_arg' and '$1')"; out_arg="$1"; shift ;;
  esac
done
[[ -n "$out_arg" ]] || die "usage: gpu-run.sh [--budget-s N] [--steps a,b] [--archive FILE] [--dry-run] OUT_DIR"
[[ "$budget" =~ ^[0-9]+$ && $budget -ge 10 ]] || die "--budget-s expects whole seconds, at least 10, not '$budget'"
declare -A SELECTED=()
if [[ -n "$only" ]]; then
  IFS=, read -r -a picked <<<"$only"
  for s in "${picked[@]}"; do
    [[ -n "${WEIGHT[$s]+x}" ]] || die "--steps: unknown step '$s' (steps: ${ALL_STEPS[*]})"
    SELECTED[$s]=1
  done
else
  for s in "${ALL_STEPS[@]}"; do SELECTED[$s]=1; done
fi
mkdir -p "$out_arg" || die "cannot create $out_arg"
out="$(cd "$out_arg" && pwd)"
if [[ -n "$archive" ]]; then
  [[ -d "$(dirname "$archive")" ]] || die "--archive: no folder $(dirname "$archive") for $archive"
  archive="$(cd "$(dirname "$archive")" && pwd)/$(basename "$archive")"
fi

export KVR_GPU_RUN_ROOT="$root" KVR_GPU_RUN_OUT="$out" KVR_GPU_RUN_DRY="$dry" KVR_GPU_RUN_THRESHOLD="$THRESHOLD"
if [[ $dry -eq 1 ]]; then
  shims="$root/test/native/gpu-run-shims"
  [[ -d "$shims" ]] || die "--dry-run: no shims at $shims"
  export PATH="$shims:$PATH" KVR_GPU_RUN_BUILD="$out/build-dry" CUDA_HOME="$shims/cuda"
else
  export KVR_GPU_RUN_BUILD="$root/build-gpu"
fi
export CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"
export PATH="/tmp/kvr-node/bin:$CUDA_HOME/bin:$PATH"

started="$(date +%s)"
deadline=$((started + budget))
: >"$out/steps.jsonl"
: >"$out/state.env"
i=0
for s in "${ALL_STEPS[@]}"; do i=$((i + 1)); rm -f "$out/$i-$s.json" "$out/$s.progress.jsonl"; done
echo "$(date -u +%FT%TZ)" >"$out/started.txt"

log() { echo "[gpu-run $(($(date +%s) - started))s] $*"; }
# shellcheck source=lib/json.sh
source "$root/native/scripts/lib/json.sh"
# The step's budget at this total (whole seconds, at least 1).
step_budget() {
  local w="${WEIGHT[$1]}"
  [[ $w -eq 0 ]] && { echo 0; return; }
  local b=$(((w * budget + 240) / 480))
  [[ $b -lt 1 ]] && b=1
  echo "$b"
}

# write_step NAME INDEX STATUS RC ELAPSED LIMIT BUDGET WHY: OUT/NAME.json and a line in steps.jsonl.
write_step() {
  local name="$1" index="$2" status="$3" rc="$4" elapsed="$5" limit="$6" step_b="$7" why="$8"
  local finished="[]" tail=""
  if [[ -s "$out/$name.progress.jsonl" ]]; then
    finished="[$(paste -sd, "$out/$name.progress.jsonl")]"
  fi
  [[ -f "$out/$name.log" ]] && tail="$(tail -n 5 "$out/$name.log" | cut -c1-300)"
  local doc
  doc="{\"schema\": \"kvr-gpu-run/step@1\", \"step\": \"$name\", \"index\": $index, \"status\": \"$status\", \"rc\": $rc, \"elapsed_s\": $elapsed, \"limit_s\": $limit, \"budget_s\": $step_b, \"dry_run\": $([[ $dry -eq 1 ]] && echo true || echo false), \"why\": $(if [[ -n "$why" ]]; then json_str "$why"; else echo null; fi), \"finished\": $finished, \"log_tail\": $(json_str "$tail")}"
  printf '%s\n' "$doc" >"$out/$index-$name.json.tmp" && mv "$out/$index-$name.json.tmp" "$out/$index-$name.json"
  printf '{"step": "%s", "index": %d, "status": "%s", "rc": %d, "elapsed_s": %s, "limit_s": %d, "budget_s": %d}\n' \
    "$name" "$index" "$status" "$rc" "$elapsed" "$limit" "$step_b" >>"$out/steps.jsonl"
}

summary_written=0
write_summary() {
  [[ $summary_written -eq 1 ]] && return
  summary_written=1
  local steps=() s
  local i=0
  for s in "${ALL_STEPS[@]}"; do
    i=$((i + 1))
    [[ -f "$out/$i-$s.json" ]] && steps+=("$(cat "$out/$i-$s.json")")
  done
  local joined
  joined="$(printf '%s\n' "${steps[@]}" | paste -sd, -)"
  printf '{"schema": "kvr-gpu-run@1", "started": %s, "finished": %s, "budget_s": %d, "elapsed_s": %d, "dry_run": %s, "steps": [%s]}\n' \
    "$(json_str "$(cat "$out/started.txt")")" "$(json_str "$(date -u +%FT%TZ)")" "$budget" "$(($(date +%s) - started))" \
    "$([[ $dry -eq 1 ]] && echo true || echo false)" "$joined" >"$out/summary.json"
  # The readable digest (numbers per step); the summary above stands if it fails.
  "${KVR_GPU_RUN_PYTHON:-python3}" "$root/native/scripts/lib/gpu-run-summary.py" "$out" 2>>"$out/summary.log" ||
    log "summary digest failed (see summary.log); summary.json holds the raw steps"
  log "summary: $out/summary.json"
  if [[ -n "$archive" ]]; then
    tar -C "$(dirname "$out")" -czf "$archive" --exclude build-dry "$(basename "$out")" 2>/dev/null &&
      log "archive: $archive ($(du -h "$archive" | cut -f1))"
  fi
}
current_child="" current_name="" current_index=0 current_limit=0 current_budget=0 t0=0
# Interrupted (INT/TERM): the step in flight is stopped and still writes its JSON, then the summary.
on_signal() {
  log "interrupted"
  if [[ -n "$current_child" ]]; then
    kill -TERM "$current_child" 2>/dev/null
    wait "$current_child" 2>/dev/null
    write_step "$current_name" "$current_index" interrupted 130 \
      "$(awk "BEGIN { printf \"%.2f\", $(date +%s.%N) - $t0 }")" "$current_limit" "$current_budget" "gpu-run was interrupted"
  fi
  exit 130
}
trap 'write_summary' EXIT
trap on_signal INT TERM

log "budget ${budget}s$([[ $dry -eq 1 ]] && echo ', dry run (shims on PATH)'), out $out"
index=0
for name in "${ALL_STEPS[@]}"; do
  index=$((index + 1))
  step_b="$(step_budget "$name")"
  [[ -n "${SELECTED[$name]+x}" ]] || continue
  left=$((deadline - $(date +%s)))
  why=""
  if [[ $name == slices ]]; then
    step_b=$left
    [[ $left -ge $((SLICES_MIN_S * budget / 480)) ]] || why="only ${left}s of the budget left (slices need $((SLICES_MIN_S * budget / 480))s)"
  elif [[ $left -lt 2 ]]; then
    why="the total budget is spent"
  fi
  if [[ -z "$why" && -f "$out/state.env" ]]; then
    # A step a prerequisite ruled out (preflight or build wrote SKIP_<step>=why).
    why="$(sed -n "s/^SKIP_$name=//p" "$out/state.env" | tail -n 1)"
  fi
  if [[ -n "$why" ]]; then
    write_step "$name" "$index" skipped 125 0 0 "$step_b" "$why"
    log "$index $name: skipped ($why)"
    continue
  fi
  limit=$step_b
  [[ $limit -gt $left ]] && limit=$left
  log "$index $name: up to ${limit}s"
  t0="$(date +%s.%N)"
  KVR_STEP_DEADLINE=$(($(date +%s) + limit)) KVR_STEP_INDEX=$index \
    timeout --kill-after=5 "$limit" bash "$self" --run-step "$name" </dev/null >"$out/$name.out" 2>"$out/$name.log" &
  current_child=$! current_name=$name current_index=$index current_limit=$limit current_budget=$step_b
  wait "$current_child"
  rc=$?
  current_child=""
  elapsed="$(awk "BEGIN { printf \"%.2f\", $(date +%s.%N) - $t0 }")"
  case $rc in
    0) status=ok ;;
    124 | 137) status=timeout ;;
    125) status=skipped ;;
    *) status=failed ;;
  esac
  why=""
  if [[ $status == timeout ]]; then
    why="killed at its ${limit}s limit"
    # Ended by itself before the limit: one of its commands was cut to the time the step had left.
    awk "BEGIN { exit !($elapsed < $limit - 1) }" && why="a command was cut to the step's ${limit}s limit (see finished)"
  fi
  [[ $status == skipped || $status == failed ]] && why="$(tail -n 1 "$out/$name.log" 2>/dev/null | cut -c1-300)"
  write_step "$name" "$index" "$status" "$rc" "$elapsed" "$limit" "$step_b" "$why"
  log "$index $name: $status (rc $rc, ${elapsed}s)${why:+: $why}"
  [[ $name == preflight && -s "$out/preflight.out" ]] && sed 's/^/    /' "$out/preflight.out"
done
write_summary
log "done in $(($(date +%s) - started))s"
