#!/usr/bin/env bash
# The paper's node: calibrate and validate the paper's grid on one multi-GPU host (8x A100 or
# 8x H100), rank r on GPU r, in one command:
#   native/scripts/gpu-node-validate.sh [--budget-s N] [--gpus N] [--archive FILE] [--dry-run] OUT_DIR
# The grid (calibration/paper-grid.ts): TSP, KVR-E, KVR-S and KVR-P on 2, 4 and 8 GPUs, 1k-16k
# tokens, llama2-7b and falcon-7b, over the GPUs' own links (NVLink/NVSwitch through NCCL,
# unpaced) and over links paced to the paper's 10 GB/s (the executor's link pacer, on top of NCCL).
#   1 setup   gpu-run.sh --steps preflight,build,attention into OUT_DIR/setup (GPUs, tools; kvr-exec
#             and the Node addon, with the packed Node runtime: carry .devtools and dist; then the
#             attention bench on GPU 0, whose fastest passing tiling every run below is given as
#             KVR_CUDA_ATTENTION, so the calibration times the kernel the validation runs)
#   2 plan    node bin/kvr.js validate --paper-grid --host-gpus G --gpu NAME --budget-s LEFT
#             -> OUT_DIR/plan.json: the calibration first, then the validation runs by tier
#             (links as they are at 4k/16k, paced at 4k/16k, then the other contexts), cheapest
#             first; runs on more GPUs than the host has, or over the budget, are skipped with why
#   3 runs    each run of the plan under `timeout` (3x its expected time, at least 60 s, never past
#             the total budget); OUT_DIR/runs/<nn>-<id>.json (kvr-gpu-node/run@1: status ok, failed,
#             timeout, skipped or interrupted; rc, elapsed_s, limit_s, expected_s, devices, why,
#             and the validation report's rows and summary) as soon as it ends, one line in
#             OUT_DIR/runs.jsonl; its report folder OUT_DIR/runs/<id>/ (report.json, report.md)
# OUT_DIR/summary.json (kvr-gpu-node@1) at the end, also when interrupted; --archive FILE packs
# OUT_DIR into FILE (.tgz). The calibrated profile is written to kvr-out/profiles/NAME.json in the
# working directory (where the validation runs' --gpu NAME finds it) and copied to OUT_DIR/profiles/.
# --budget-s: total seconds, setup included (default 2700; the whole grid is expected to take
# about 30 min on 8 GPUs, see native/README.md). --gpus N: use GPUs 0..N-1 only (default: all).
# --dry-run: the shims of test/native/gpu-run-shims stand in for the GPU host's tools (set
# KVR_SHIM_GPUS=8 for an 8-GPU host); the plan is the real one, the runs are the shims'.
# Environment: KVR_GPU_NAME (profile name; else a100-80g/a100-40g/h100-sxm/h200 from nvidia-smi).
# Never changes GPU settings (no MIG, clocks, compute mode, MPS or reset). CUDA_VISIBLE_DEVICES,
# if set, decides which GPUs are 0..N-1.
set -uo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
die() {
  echo "gpu-node-validate: $*" >&2
  exit 2
}

budget=2700 dry=0 archive="" out_arg="" want_gpus=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --budget-s) [[ $# -ge 2 ]] || die "--budget-s needs a number of seconds"; budget="$2"; shift 2 ;;
    --budget-s=*) budget="${1#*=}"; shift ;;
    --gpus) [[ $# -ge 2 ]] || die "--gpus needs a number of GPUs"; want_gpus="$2"; shift 2 ;;
    --gpus=*) want_gpus="${1#*=}"; shift ;;
    --archive) [[ $# -ge 2 ]] || die "--archive needs a file"; archive="$2"; shift 2 ;;
    --dry-run) dry=1; shift ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [[ -z "$out_arg" ]] || die "one OUT_DIR only (got '$out_arg' and '$1')"; out_arg="$1"; shift ;;
  esac
done
[[ -n "$out_arg" ]] || die "usage: gpu-node-validate.sh [--budget-s N] [--gpus N] [--archive FILE] [--dry-run] OUT_DIR"
[[ "$budget" =~ ^[0-9]+$ && $budget -ge 60 ]] || die "--budget-s expects whole seconds, at least 60, not '$budget'"
[[ -z "$want_gpus" || ( "$want_gpus" =~ ^[0-9]+$ && $want_gpus -ge 1 ) ]] || die "--gpus expects a number of GPUs, at least 1, not '$want_gpus'"
mkdir -p "$out_arg" || die "cannot create $out_arg"
out="$(cd "$out_arg" && pwd)"
if [[ -n "$archive" ]]; then
  [[ -d "$(dirname "$archive")" ]] || die "--archive: no folder $(dirname "$archive") for $archive"
  archive="$(cd "$(dirname "$archive")" && pwd)/$(basename "$archive")"
fi

# shellcheck source=lib/json.sh
source "$root/native/scripts/lib/json.sh"
# shellcheck source=lib/picked-attention.sh
source "$root/native/scripts/lib/picked-attention.sh"
started="$(date +%s)"
deadline=$((started + budget))
log() { echo "[gpu-node-validate $(($(date +%s) - started))s] $*"; }
mkdir -p "$out/runs"
: >"$out/runs.jsonl"
rm -f "$out"/runs/[0-9]*.json "$out/summary.json" "$out/plan.json"
echo "$(date -u +%FT%TZ)" >"$out/started.txt"

# The Node that plans and assembles JSON: found before the dry run's shims go on PATH.
export PATH="/tmp/kvr-node/bin:$PATH"
helper_node="$(command -v node || true)"
status_note=""

summary_written=0
write_summary() {
  [[ $summary_written -eq 1 ]] && return
  summary_written=1
  local runs
  runs="$(paste -sd, "$out/runs.jsonl" 2>/dev/null)"
  printf '{"schema": "kvr-gpu-node@1", "started": %s, "finished": %s, "budget_s": %d, "elapsed_s": %d, "dry_run": %s, "host_gpus": %s, "gpu": %s, "note": %s, "attention_kernel": %s, "attention_from": %s, "plan_expected_s": %s, "runs": [%s]}\n' \
    "$(json_str "$(cat "$out/started.txt")")" "$(json_str "$(date -u +%FT%TZ)")" "$budget" "$(($(date +%s) - started))" \
    "$([[ $dry -eq 1 ]] && echo true || echo false)" "${host_gpus:-null}" "$(json_str "${gpu_name:-}")" \
    "$(if [[ -n "$status_note" ]]; then json_str "$status_note"; else echo null; fi)" \
    "$(if [[ -n "${attention_from:-}" ]]; then json_str "${KVR_CUDA_ATTENTION:-default}"; else echo null; fi)" \
    "$(if [[ -n "${attention_from:-}" ]]; then json_str "$attention_from"; else echo null; fi)" \
    "${plan_expected:-null}" "$runs" >"$out/summary.json"
  log "summary: $out/summary.json"
  if [[ -n "$archive" ]]; then
    tar -C "$(dirname "$out")" -czf "$archive" --exclude build-dry "$(basename "$out")" 2>/dev/null && log "archive: $archive"
  fi
}

# write_run INDEX ID KIND STATUS RC ELAPSED LIMIT EXPECTED DEVICES WHY: OUT/runs/<nn>-<id>.json and a line in runs.jsonl.
write_run() {
  local index="$1" id="$2" kind="$3" status="$4" rc="$5" elapsed="$6" limit="$7" expected="$8" devices="$9" why="${10}"
  local file report="null" tail=""
  file="$out/runs/$(printf '%02d' "$index")-$id.json"
  [[ -f "$out/runs/$id.log" ]] && tail="$(tail -n 5 "$out/runs/$id.log" | cut -c1-300)"
  if [[ -f "$out/runs/$id/report.json" && -n "$helper_node" ]]; then
    report="$("$helper_node" -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      process.stdout.write(JSON.stringify({ device: r.device, rows: r.rows, summary: r.summary, overall: r.overall }))' "$out/runs/$id/report.json" 2>/dev/null || echo null)"
  fi
  printf '{"schema": "kvr-gpu-node/run@1", "index": %d, "id": "%s", "kind": "%s", "status": "%s", "rc": %d, "elapsed_s": %s, "limit_s": %d, "expected_s": %s, "devices": [%s], "dry_run": %s, "why": %s, "report": %s, "log_tail": %s}\n' \
    "$index" "$id" "$kind" "$status" "$rc" "$elapsed" "$limit" "$expected" "$devices" "$([[ $dry -eq 1 ]] && echo true || echo false)" \
    "$(if [[ -n "$why" ]]; then json_str "$why"; else echo null; fi)" "$report" "$(json_str "$tail")" >"$file.tmp" && mv "$file.tmp" "$file"
  printf '{"index": %d, "id": "%s", "kind": "%s", "status": "%s", "rc": %d, "elapsed_s": %s, "limit_s": %d, "expected_s": %s}\n' \
    "$index" "$id" "$kind" "$status" "$rc" "$elapsed" "$limit" "$expected" >>"$out/runs.jsonl"
}

current_child="" current=()
on_signal() {
  log "interrupted"
  if [[ -n "$current_child" ]]; then
    kill -TERM "$current_child" 2>/dev/null
    wait "$current_child" 2>/dev/null
    write_run "${current[@]}" interrupted 130 "$(($(date +%s) - run_t0))" "$run_limit" "${current_expected}" "${current_devices}" "gpu-node-validate was interrupted"
  fi
  exit 130
}
trap 'write_summary' EXIT
trap on_signal INT TERM

# --- 1 setup: preflight, build and the attention bench (gpu-run.sh's steps) -------------------------
setup_budget=$((budget / 2))
[[ $setup_budget -gt 960 ]] && setup_budget=960
log "setup: gpu-run.sh --steps preflight,build,attention (up to ${setup_budget}s)"
setup_args=(--steps preflight,build,attention --budget-s "$setup_budget")
[[ $dry -eq 1 ]] && setup_args+=(--dry-run)
bash "$root/native/scripts/gpu-run.sh" "${setup_args[@]}" "$out/setup" >"$out/setup.log" 2>&1
state() { sed -n "s/^$1=//p" "$out/setup/state.env" 2>/dev/null | tail -n 1; }
host_gpus="$(state GPUS)"
host_gpus="${host_gpus:-0}"
if [[ -n "$want_gpus" ]]; then
  [[ $want_gpus -le $host_gpus ]] || { status_note="--gpus $want_gpus: the host has $host_gpus GPU(s)"; echo "gpu-node-validate: $status_note" >&2; exit 2; }
  host_gpus=$want_gpus
fi
if [[ -n "${KVR_GPU_NAME:-}" ]]; then gpu_name="$KVR_GPU_NAME"
else
  case "$(state GPU_NAME)" in
    *H200*) gpu_name=h200 ;;
    *H100*) gpu_name=h100-sxm ;;
    *A100*80GB*) gpu_name=a100-80g ;;
    *A100*) gpu_name=a100-40g ;;
    *) gpu_name="" ;;
  esac
fi
log "host: $host_gpus GPU(s) ($(state GPU_NAME)), profile ${gpu_name:-?}"
# Every run (calibration and validation) times the tiling the attention step picked.
export_picked_attention "$out/setup/state.env"
log "attention kernel: ${KVR_CUDA_ATTENTION:-default} ($attention_from)"
[[ $host_gpus -ge 1 ]] || { status_note="no GPU (see setup/1-preflight.json)"; log "$status_note"; exit 1; }
[[ -n "$gpu_name" ]] || { status_note="unknown GPU '$(state GPU_NAME)': set KVR_GPU_NAME to a preset (a100-80g, a100-40g, h100-sxm, h200)"; log "$status_note"; exit 1; }
[[ -n "$helper_node" ]] || { status_note="no Node: run native/scripts/pack-gpu-runtime.sh here and carry .devtools and dist"; log "$status_note"; exit 1; }
addon_missing=""
[[ "$(state ADDON)" == 1 ]] || addon_missing="no Node addon was built ($(state SKIP_calibrate)); see setup/3-build.json"

# --- 2 plan ----------------------------------------------------------------------------------------
left=$((deadline - $(date +%s)))
"$helper_node" "$root/bin/kvr.js" validate --paper-grid --host-gpus "$host_gpus" --gpu "$gpu_name" --budget-s "$left" \
  --out "$out/runs" >"$out/plan.json" 2>"$out/plan.log" || { status_note="planning failed: $(tail -n 1 "$out/plan.log")"; log "$status_note"; exit 1; }
plan_expected="$("$helper_node" -e 'process.stdout.write(String(require(process.argv[1]).expected_s))' "$out/plan.json")"
log "plan: $out/plan.json, $("$helper_node" -e 'const p = require(process.argv[1]); process.stdout.write(`${p.runs.length} runs, expected ${p.expected_s} s; ${p.skipped.length} skipped`)' "$out/plan.json")"

# --- 3 runs ----------------------------------------------------------------------------------------
[[ $dry -eq 1 ]] && export PATH="$root/test/native/gpu-run-shims:$PATH"
run_node="$(command -v node)"
calibration_failed=""
# One record per run: index, id, kind, expected seconds, devices, then its kvr arguments, NUL-separated.
count="$("$helper_node" -e 'process.stdout.write(String(require(process.argv[1]).runs.length))' "$out/plan.json")"
for ((k = 0; k < count; k++)); do
  mapfile -d '' -t rec < <("$helper_node" -e 'const r = require(process.argv[1]).runs[Number(process.argv[2])];
    process.stdout.write([r.index, r.id, r.kind, r.expected_s, r.devices.join(","), ...r.argv].join("\0") + "\0")' "$out/plan.json" "$k")
  index="${rec[0]}" id="${rec[1]}" kind="${rec[2]}" expected="${rec[3]}" devices="${rec[4]}"
  args=("${rec[@]:5}")
  left=$((deadline - $(date +%s)))
  why=""
  [[ $left -lt 10 ]] && why="the total budget is spent (${left}s left)"
  [[ -z "$why" && -n "$addon_missing" ]] && why="$addon_missing"
  [[ -z "$why" && $kind == validate && -n "$calibration_failed" ]] && why="the calibration $calibration_failed"
  if [[ -n "$why" ]]; then
    write_run "$index" "$id" "$kind" skipped 125 0 0 "$expected" "$devices" "$why"
    log "$index $id: skipped ($why)"
    continue
  fi
  run_limit="$(awk -v e="$expected" 'BEGIN { l = int(3 * e + 0.5); print (l < 60 ? 60 : l) }')"
  [[ $run_limit -gt $left ]] && run_limit=$left
  log "$index $id on GPUs $devices: up to ${run_limit}s (expected ${expected}s)"
  run_t0="$(date +%s)"
  timeout --kill-after=5 "$run_limit" "$run_node" "$root/bin/kvr.js" "${args[@]}" </dev/null >"$out/runs/$id.out" 2>"$out/runs/$id.log" &
  current_child=$! current=("$index" "$id" "$kind") current_expected=$expected current_devices=$devices
  wait "$current_child"
  rc=$?
  current_child=""
  elapsed=$(($(date +%s) - run_t0))
  case $rc in 0) status=ok why="" ;; 124 | 137) status=timeout why="killed at its ${run_limit}s limit" ;; *) status=failed why="$(tail -n 1 "$out/runs/$id.log" | cut -c1-300)" ;; esac
  if [[ $kind == calibrate ]]; then
    if [[ $status == ok ]]; then
      mkdir -p "$out/profiles" && cp "kvr-out/profiles/$gpu_name.json" "kvr-out/profiles/$gpu_name.measurements.json" "$out/profiles/" 2>/dev/null
    else
      calibration_failed="$status (see runs/$id.log)"
    fi
  fi
  write_run "$index" "$id" "$kind" "$status" "$rc" "$elapsed" "$run_limit" "$expected" "$devices" "$why"
  log "$index $id: $status (rc $rc, ${elapsed}s)${why:+: $why}"
done
write_summary
log "done in $(($(date +%s) - started))s"
