#!/usr/bin/env bash
# Calibrates and validates the simulator on a GPU host (CUDA toolkit with cuBLAS, python3; no Node
# and no network: native/scripts/pack-gpu-runtime.sh packs node, the runtime node_modules and
# dist/ beforehand, carried as .devtools/ and dist/):
#   native/scripts/gpu-calibrate.sh OUT_DIR
# Steps, each under a timeout and a global budget (KVR_GPU_CALIBRATE_BUDGET_S, default 450 s),
# each recorded whatever happens:
#   1. node: .devtools/node.xz unpacked to /tmp/kvr-node/bin/node; node_modules -> .devtools/node_modules
#      when absent
#   2. configure + build the Node addon (and kvr-exec) with CUDA into build-gpu/ with plain cmake +
#      ninja (CMAKE_JS_INC = node-api-headers), copied to build/Release/kvr.node where
#      native/js/addon.ts loads it; a build-gpu/ left by gpu-check.sh is reused
#   3. kvr devices; partitions-compare-*: kvr-exec compare (CPU fp32 vs CUDA fp16 logits) of two
#      multi-rank check plans with every rank on its own SM partition; links-check: a 4-rank plan on
#      partitions with emulated links (10 GB/s, 5 us), whose transfers must not beat the link
#   4. calibrate-whole: kvr calibrate --backend cuda --name GPU (whole GPU)
#        -> calibration/profiles/GPU.json
#   5. calibrate-slice: the same with --sm-partitions N (default 8): every op timed on one
#        green-context partition -> calibration/profiles/GPU/<k>sm.json (k SMs per partition)
#   6. validate-slice: kvr validate --sm-partitions N --gpu GPU/<k>sm --gpu-whole GPU: the
#        multi-rank cases one rank per partition with emulated links, the single-rank ones on the
#        whole GPU -> calibration/validation/GPU/<k>sm/
#   7. validate-whole: single-rank cases at more contexts -> calibration/validation/GPU/
#   8. OUT_DIR/summary.json (always written, also when interrupted), profiles and reports copied
#      into OUT_DIR/profiles and OUT_DIR/validation
# GPU is h200 or h100-sxm from nvidia-smi (KVR_GPU_NAME overrides). The grid is one model
# (llama2-7b) at chunks of 512..8192 tokens: on an H200 the whole-GPU calibration takes well under
# a minute and the 16-SM one (each op ~8x slower) about a minute; the validation ~1-2 minutes.
# Environment overrides: KVR_GPU_NAME, KVR_SM_PARTITIONS (8), KVR_CAL_MODEL (llama2-7b),
# KVR_CAL_TOKENS (512,2048,8192), KVR_CAL_PREFIXES (0,2048,8192), KVR_CAL_LINK_TOKENS (1024,8192),
# KVR_CAL_REPEATS (3), KVR_VAL_RANKS (2,4,8), KVR_VAL_CONTEXTS (8192), KVR_VAL_SINGLE (2048,8192),
# KVR_VAL_WHOLE_SINGLE (1024,4096,16384), KVR_VAL_REPEATS (2), KVR_GPU_CALIBRATE_PYTHON (python3),
# CUDA_HOME (/usr/local/cuda); KVR_CUDA_ATTENTION passes through to the backend (gpu-check.sh
# writes the best attention kernel to its OUT_DIR/attention-kernel.txt).
set -uo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 OUT_DIR" >&2
  exit 2
fi
root="$(cd "$(dirname "$0")/../.." && pwd)"
mkdir -p "$1" || exit 2
out="$(cd "$1" && pwd)"
cd "$root" || exit 2

cuda_home="${CUDA_HOME:-/usr/local/cuda}"
node_dir=/tmp/kvr-node
export PATH="$node_dir/bin:$cuda_home/bin:$PATH"
python="${KVR_GPU_CALIBRATE_PYTHON:-python3}"
build="$root/build-gpu"
partitions="${KVR_SM_PARTITIONS:-8}"
started="$(date +%s)"
deadline=$((started + ${KVR_GPU_CALIBRATE_BUDGET_S:-450}))
: >"$out/steps.jsonl"
echo "$(date -u +%FT%TZ)" >"$out/started.txt"

step_tag=gpu-calibrate
# shellcheck source=lib/steps.sh
source "$root/native/scripts/lib/steps.sh"

summary_written=0
write_summary() {
  [[ $summary_written -eq 1 ]] && return
  summary_written=1
  log "summary"
  mkdir -p "$out/profiles" "$out/validation"
  cp -R "$root/calibration/profiles/." "$out/profiles/" 2>/dev/null
  cp -R "$root/calibration/validation/." "$out/validation/" 2>/dev/null
  if ! "$python" - "$out" "${gpu:-}" "${slice_name:-}" "$partitions" <<'PY'
import glob, json, os, sys, time
out, gpu, slice_name, partitions = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read().strip()
        return json.loads(text) if text else None
    except (OSError, ValueError):
        return None

def last_line(name):
    try:
        with open(os.path.join(out, name), encoding="utf-8", errors="replace") as f:
            lines = [l.rstrip() for l in f if l.strip()]
        return lines[-1] if lines else None
    except OSError:
        return None

steps = []
try:
    with open(os.path.join(out, "steps.jsonl"), encoding="utf-8") as f:
        steps = [json.loads(l) for l in f if l.strip()]
except (OSError, ValueError):
    pass
status_of = {s["step"]: s for s in steps}

summary = {"schema": "kvr-gpu-calibrate@1", "out_dir": out, "gpu_profile": gpu or None,
           "slice_profile": slice_name or None, "sm_partitions": partitions}
try:
    summary["started"] = open(os.path.join(out, "started.txt")).read().strip()
except OSError:
    pass
summary["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

devices = load(os.path.join(out, "devices.out")) or {}
cuda = devices.get("cuda", {}) if isinstance(devices, dict) else {}
gpus = cuda.get("devices") or []
summary["gpu"] = {"name": gpus[0]["name"] if gpus else None, "sms": gpus[0].get("sms") if gpus else None,
                  "driver": cuda.get("driver_version"), "cuda_runtime": cuda.get("runtime_version"),
                  "error": cuda.get("error"), "build": devices.get("build") if isinstance(devices, dict) else None}

def profile_summary(step, name):
    entry = {"name": name or None, "status": status_of.get(step, {}).get("status")}
    doc = load(os.path.join(out, "profiles", name + ".json")) if name else None
    if not isinstance(doc, dict):
        entry["error"] = last_line(step + ".log")
        return entry
    prov = doc.get("provenance", {})
    entry["device"] = prov.get("device")
    entry["sm_partitions"] = prov.get("sm_partitions")
    entry["grid_samples"] = len((doc.get("samples") or {}).get("grid", []))
    entry["fit"] = [{k: f.get(k) for k in ("model", "op", "mean_abs_error", "max_abs_error", "checks")}
                    for f in (doc.get("fit") or {}).get("ops", [])]
    entry["transfer_mean_abs_error"] = (doc.get("fit") or {}).get("transfer_mean_abs_error")
    entry["transfer_overhead_s"] = (doc.get("calibration") or {}).get("transfer_overhead_s")
    return entry

checks = []
for path in sorted(glob.glob(os.path.join(out, "partitions-compare-*.out"))):
    step = os.path.basename(path)[:-len(".out")]
    data = load(path)
    entry = {"plan": step[len("partitions-compare-"):], "status": status_of.get(step, {}).get("status")}
    if isinstance(data, dict) and "logits_max_rel_error" in data:
        err = data["logits_max_rel_error"]
        entry["logits_max_rel_error"] = err
        entry["device"] = next((b.get("device") for b in data.get("backends", []) if b.get("backend") == "cuda"), None)
        entry["pass"] = err is not None and err <= 2e-2
    else:
        entry["pass"] = False
        entry["error"] = last_line(step + ".log")
    checks.append(entry)
links = {"status": status_of.get("links-check", {}).get("status")}
m = load(os.path.join(out, "links-check.out"))
if isinstance(m, dict) and "transfers" in m:
    # A transfer may not end before its emulated link delivered it: latency + bytes / 10 GB/s when
    # alone (sharing a link only makes it later). Allow 2 us for the host/device clock offset.
    slack = [t["end_s"] - t["start_s"] - (5e-6 + t["bytes"] / 10e9) for t in m["transfers"]]
    links.update({"device": m.get("device"), "ttft_s": m.get("ttft_s"), "transfers": len(slack),
                  "min_slack_s": min(slack) if slack else None,
                  "min_start_s": min((t["start_s"] for t in m["transfers"]), default=None),
                  "pass": bool(slack) and min(slack) >= -2e-6})
else:
    links["error"] = last_line("links-check.log")
summary["partitions_check"] = {"compare": checks, "links": links,
                               "pass": bool(checks) and all(c["pass"] for c in checks) and bool(links.get("pass"))}

summary["profiles"] = {"whole": profile_summary("calibrate-whole", gpu),
                       "slice": profile_summary("calibrate-slice", slice_name)}

def report_summary(step, folder):
    entry = {"folder": folder or None, "status": status_of.get(step, {}).get("status")}
    doc = load(os.path.join(out, "validation", folder, "report.json")) if folder else None
    if not isinstance(doc, dict):
        entry["error"] = last_line(step + ".log")
        return entry
    entry["device"] = doc.get("device")
    entry["overall"] = doc.get("overall")
    entry["by_strategy"] = doc.get("summary")
    entry["rows"] = [{k: r.get(k) for k in ("model", "strategy", "gpus", "context", "bandwidth", "sm_partitions",
                                            "profile", "measured_s", "predicted_s", "error")}
                     for r in doc.get("rows", [])]
    return entry

summary["validation"] = {"slice": report_summary("validate-slice", slice_name),
                         "whole": report_summary("validate-whole", gpu)}
summary["steps"] = steps
with open(os.path.join(out, "summary.json"), "w", encoding="utf-8") as f:
    json.dump(summary, f, indent=1)
    f.write("\n")

def pct(x):
    return f"{100 * x:.1f}%" if isinstance(x, (int, float)) else "-"

g = summary["gpu"]
print(f"GPU: {g['name']} ({g['sms']} SMs), driver {g['driver']}, runtime {g['cuda_runtime']}")
pc = summary["partitions_check"]
print(f"partitions check: {'PASS' if pc['pass'] else 'FAIL'}")
for c in pc["compare"]:
    print(f"  compare {c['plan']}: max rel error {c.get('logits_max_rel_error')} on {c.get('device')}"
          + (f"  error: {c['error']}" if c.get("error") else ""))
l = pc["links"]
print(f"  links: {l.get('transfers')} transfers, min slack {l.get('min_slack_s')} s, ttft {l.get('ttft_s')} s on {l.get('device')}"
      + (f"  error: {l['error']}" if l.get("error") else ""))
for kind, p in summary["profiles"].items():
    print(f"profile {kind}: {p.get('name')} [{p.get('status')}] on {p.get('device')}"
          + (f"  error: {p['error']}" if p.get("error") else ""))
    for f in p.get("fit") or []:
        print(f"  {f['model']} {f['op']}: mean {pct(f['mean_abs_error'])}, max {pct(f['max_abs_error'])} over {f['checks']} shapes")
    if p.get("transfer_mean_abs_error") is not None:
        print(f"  transfers: mean error {pct(p['transfer_mean_abs_error'])}")
for kind, v in summary["validation"].items():
    o = v.get("overall") or {}
    print(f"validation {kind}: {v.get('folder')} [{v.get('status')}] {o.get('cases', 0)} cases, mean abs TTFT error "
          f"{pct(o.get('mean_abs_error'))}, max {pct(o.get('max_abs_error'))}" + (f"  error: {v['error']}" if v.get("error") else ""))
    for s in v.get("by_strategy") or []:
        print(f"  {s['strategy']}: mean {pct(s['mean_abs_error'])}, max {pct(s['max_abs_error'])} ({s['cases']} cases)")
bad = [s for s in steps if s.get("status") != "ok"]
print(f"steps: {len(steps)} run, {len(bad)} not ok" + (": " + ", ".join(f"{s['step']} ({s['status']})" for s in bad) if bad else ""))
print(f"summary: {os.path.join(out, 'summary.json')}")
PY
  then
    printf '{"schema": "kvr-gpu-calibrate@1", "error": "the summary script failed; see the *.out and *.log files", "out_dir": "%s"}\n' \
      "$out" >"$out/summary.json"
    echo "[gpu-calibrate] summary script failed; wrote a minimal $out/summary.json" >&2
  fi
}
trap 'write_summary' EXIT
trap 'log "interrupted"; exit 130' INT TERM

# --- 1. node ----------------------------------------------------------------------------------------
unpack_node() {
  if [[ ! -e "$root/node_modules" ]]; then ln -s .devtools/node_modules "$root/node_modules" || return 1; fi
  [[ -f "$root/node_modules/commander/package.json" ]] || { echo "node_modules lacks commander: carry .devtools (pack-gpu-runtime.sh)" >&2; return 1; }
  [[ -f "$root/dist/cli/main.js" ]] || { echo "no dist/cli/main.js: carry dist (pack-gpu-runtime.sh builds it)" >&2; return 1; }
  mkdir -p "$node_dir/bin" || return 1
  if ! "$node_dir/bin/node" --version >/dev/null 2>&1; then
    [[ -f "$root/.devtools/node.xz" ]] || { echo "no .devtools/node.xz: run native/scripts/pack-gpu-runtime.sh and carry .devtools" >&2; return 1; }
    if command -v xz >/dev/null 2>&1; then
      xz -dc "$root/.devtools/node.xz" >"$node_dir/bin/node.tmp" || return 1
    else
      "$python" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
        "$root/.devtools/node.xz" "$node_dir/bin/node.tmp" || return 1
    fi
    chmod +x "$node_dir/bin/node.tmp" && mv "$node_dir/bin/node.tmp" "$node_dir/bin/node" || return 1
  fi
  "$node_dir/bin/node" --version
}
export -f unpack_node
export root node_dir python
node_ok=0
run_step node 60 bash -c unpack_node && node_ok=1

# --- 2. build ---------------------------------------------------------------------------------------
build_ok=0
if [[ $node_ok -eq 1 ]]; then
  arch="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 | tr -d ' .')"
  [[ "$arch" =~ ^[0-9]+$ ]] || arch=90
  log "building the addon for sm_$arch into $build"
  # cmake and ninja print status and compiler errors on stdout: send everything to the .log.
  if run_step configure 120 bash -c 'exec "$@" 1>&2' _ cmake -S "$root" -B "$build" -G Ninja \
      -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$arch" -DCMAKE_CUDA_COMPILER="$cuda_home/bin/nvcc" \
      -DCMAKE_JS_INC="$root/node_modules/node-api-headers/include" &&
    run_step build 300 bash -c 'exec "$@" 1>&2' _ cmake --build "$build" --target kvr_addon kvr-exec -j "$(nproc)"; then
    addon="$(find "$build" -maxdepth 3 -name kvr.node -type f | head -n 1)"
    if [[ -n "$addon" ]] && mkdir -p "$root/build/Release" && cp "$addon" "$root/build/Release/kvr.node"; then
      build_ok=1
    else
      log "build: no kvr.node under $build"
    fi
  fi
else
  skip_step configure "node did not unpack"
  skip_step build "node did not unpack"
fi

# --- 3. devices -------------------------------------------------------------------------------------
gpu="${KVR_GPU_NAME:-}"
if [[ $build_ok -eq 1 ]]; then
  run_step devices 60 node "$root/bin/kvr.js" devices --json
fi
if [[ -z "$gpu" ]]; then
  name="$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)"
  case "$name" in
    *H200*) gpu=h200 ;;
    *H100*) gpu=h100-sxm ;;
    *) gpu="$(echo "${name:-gpu}" | tr '[:upper:] ' '[:lower:]-' | tr -cd 'a-z0-9-')" ;;
  esac
fi
log "profile name: $gpu ($partitions SM partitions for the slice profile)"

# --- 3b. partitions and paced links, quickly, before the long steps ------------------------------------
if [[ $build_ok -eq 1 && -x "$build/kvr-exec" ]]; then
  for plan in check-tiny-llama-kvr-p4 check-tiny-falcon-tsp-p4; do
    run_step "partitions-compare-$plan" 60 "$build/kvr-exec" compare "$root/native/scripts/plans/$plan.json" \
      --backends cpu,cuda --sm-partitions "$partitions"
  done
  "$python" - "$out/links-4.json" <<'PY'
import json, sys
ranks, rate = 4, 10e9  # each rank: one outgoing and one incoming link resource
routes = [{"src": s, "dst": d, "latency_s": 5e-6, "resources": [s, ranks + d]}
          for s in range(ranks) for d in range(ranks) if s != d]
json.dump({"capacity": [rate] * (2 * ranks), "routes": routes}, open(sys.argv[1], "w"))
PY
  run_step links-check 60 "$build/kvr-exec" run "$root/native/scripts/plans/check-tiny-llama-kvr-p4.json" \
    --backend cuda --sm-partitions "$partitions" --links "$out/links-4.json" --warmup 1 --repeats 2
else
  skip_step partitions-compare "no kvr-exec"
  skip_step links-check "no kvr-exec"
fi

# --- 4/5. calibrate ---------------------------------------------------------------------------------
grid=(--model "${KVR_CAL_MODEL:-llama2-7b}" --tokens "${KVR_CAL_TOKENS:-512,2048,8192}"
  --prefixes "${KVR_CAL_PREFIXES:-0,2048,8192}" --link-tokens "${KVR_CAL_LINK_TOKENS:-1024,8192}"
  --warmup 1 --repeats "${KVR_CAL_REPEATS:-3}")
slice_name=""
if [[ $build_ok -eq 1 ]]; then
  run_step calibrate-whole 150 node "$root/bin/kvr.js" calibrate --backend cuda --name "$gpu" "${grid[@]}"
  run_step calibrate-slice 240 node "$root/bin/kvr.js" calibrate --backend cuda --name "$gpu" \
    --sm-partitions "$partitions" "${grid[@]}"
  # "wrote .../h200/16sm.json: profile h200/16sm on NVIDIA H200 x1, 8 SM partitions of 16 SMs, ..."
  slice_name="$(sed -n 's/^wrote .*: profile \([^ ]*\) on .*/\1/p' "$out/calibrate-slice.out" | head -n 1)"
else
  skip_step calibrate-whole "no addon"
  skip_step calibrate-slice "no addon"
fi

# --- 6/7. validate ----------------------------------------------------------------------------------
repeats="${KVR_VAL_REPEATS:-2}"
if [[ -n "$slice_name" && -f "$root/calibration/profiles/$gpu.json" ]]; then
  run_step validate-slice 240 node "$root/bin/kvr.js" validate --backend cuda --gpu "$slice_name" \
    --sm-partitions "$partitions" --gpu-whole "$gpu" --single "${KVR_VAL_SINGLE:-2048,8192}" \
    --ranks "${KVR_VAL_RANKS:-2,4,8}" --contexts "${KVR_VAL_CONTEXTS:-8192}" --repeats "$repeats"
elif [[ -n "$slice_name" ]]; then
  run_step validate-slice 240 node "$root/bin/kvr.js" validate --backend cuda --gpu "$slice_name" \
    --sm-partitions "$partitions" --single none --ranks "${KVR_VAL_RANKS:-2,4,8}" \
    --contexts "${KVR_VAL_CONTEXTS:-8192}" --repeats "$repeats"
else
  skip_step validate-slice "no slice profile"
fi
if [[ -f "$root/calibration/profiles/$gpu.json" ]]; then
  run_step validate-whole 90 node "$root/bin/kvr.js" validate --backend cuda --gpu "$gpu" \
    --single "${KVR_VAL_WHOLE_SINGLE:-1024,4096,16384}" --ranks none --repeats "$repeats"
else
  skip_step validate-whole "no whole-GPU profile"
fi

# --- 8. summary -------------------------------------------------------------------------------------
write_summary
log "done in $(($(date +%s) - started))s"
