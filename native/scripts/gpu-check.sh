#!/usr/bin/env bash
# The one script to run on a GPU host (CUDA toolkit with cuBLAS, NCCL, PyTorch; no Node needed):
#   native/scripts/gpu-check.sh OUT_DIR
# Steps, each under a timeout, each recorded whatever happens (the script goes on to the next):
#   1. configure + build kvr-exec with CUDA and NCCL into build-gpu/ (Release, Ninja, the GPU's arch)
#   2. kvr-exec devices
#   3. attention: kvr-exec bench-attention on llama2-7b shapes (every flash tiling is timed; the
#      fastest correct one at chunk 4096 over 8192 runs the prefills below), then PyTorch SDPA on
#      the same shapes (native/bench/torch_baseline.py --skip-prefill)
#   4. correctness: kvr-exec compare (CPU fp32 vs CUDA fp16 last-token logits) on every
#      native/scripts/plans/check-*.json, pass at max relative error <= 2e-2
#   5. performance: kvr-exec run on native/scripts/plans/prefill-llama2-7b-single-<C>.json
#   6. PyTorch: native/bench/torch_baseline.py --skip-attention (eager llama2-7b prefill)
#   7. OUT_DIR/summary.json (always written, also when interrupted) and a printed summary
# Every step's stdout goes to OUT_DIR/<step>.out (JSON for kvr-exec), stderr to OUT_DIR/<step>.log.
# Expected to take 3-4 minutes on an H100/H200. Besides its own timeout, every step is cut to what
# is left of a global budget (KVR_GPU_CHECK_BUDGET_S, default 330 s); steps past it are skipped.
#
# Environment overrides: KVR_EXEC=path (use this kvr-exec, skip the build), KVR_GPU_CHECK_SKIP_TORCH=1,
# KVR_GPU_CHECK_PYTHON (default python3), KVR_GPU_CHECK_TORCH_ARGS (extra torch_baseline.py arguments),
# CUDA_HOME (default /usr/local/cuda).
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
export PATH="$cuda_home/bin:$PATH"
python="${KVR_GPU_CHECK_PYTHON:-python3}"
build="$root/build-gpu"
exe="${KVR_EXEC:-$build/kvr-exec}"
started="$(date +%s)"
deadline=$((started + ${KVR_GPU_CHECK_BUDGET_S:-330}))
: >"$out/steps.jsonl"
echo "$(date -u +%FT%TZ)" >"$out/started.txt"

step_tag=gpu-check
# shellcheck source=lib/steps.sh
source "$root/native/scripts/lib/steps.sh"

summary_written=0
write_summary() {
  [[ $summary_written -eq 1 ]] && return
  summary_written=1
  log "summary"
  if ! "$python" - "$out" "$root" <<'PY'
import glob, json, os, sys, time
out, root = sys.argv[1], sys.argv[2]
THRESHOLD = 2e-2
BAR = 0.70

def load(name):
    path = os.path.join(out, name)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read().strip()
        return json.loads(text) if text else None
    except (OSError, ValueError):
        return None

def last_line(name):
    try:
        with open(os.path.join(out, name), encoding="utf-8") as f:
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

summary = {"schema": "kvr-gpu-check@1", "out_dir": out}
try:
    summary["started"] = open(os.path.join(out, "started.txt")).read().strip()
except OSError:
    pass
summary["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

# --- GPU and build
devices = load("devices.out") or {}
cuda = devices.get("cuda", {}) if isinstance(devices, dict) else {}
gpus = cuda.get("devices") or []
summary["gpu"] = {
    "name": gpus[0]["name"] if gpus else None,
    "count": len(gpus),
    "memory_bytes": gpus[0].get("memory_bytes") if gpus else None,
    "sms": gpus[0].get("sms") if gpus else None,
    "compute_capability": gpus[0].get("compute_capability") if gpus else None,
    "driver": cuda.get("driver_version"),
    "cuda_runtime": cuda.get("runtime_version"),
    "cuda_build": cuda.get("cuda_version"),
    "error": cuda.get("error"),
}
build = devices.get("build", {}) if isinstance(devices, dict) else {}
configure_log = ""
try:
    configure_log = open(os.path.join(out, "configure.log"), encoding="utf-8", errors="replace").read()
except OSError:
    pass
summary["build"] = {
    "configure": status_of.get("configure", {}).get("status"),
    "build": status_of.get("build", {}).get("status"),
    "cuda_backend": build.get("cuda"),
    "nccl": build.get("nccl"),
    "cmake_says": next((l.strip() for l in configure_log.splitlines() if "kvr: CUDA backend" in l), None),
}

# --- correctness
plans = []
for path in sorted(glob.glob(os.path.join(out, "compare-*.out"))):
    name = os.path.basename(path)[len("compare-"):-len(".out")]
    if name.endswith("-simple"):
        continue
    data = load(os.path.basename(path))
    entry = {"plan": name, "status": status_of.get("compare-" + name, {}).get("status")}
    if isinstance(data, dict) and "logits_max_rel_error" in data:
        err = data["logits_max_rel_error"]
        entry["logits_max_rel_error"] = err
        entry["logits_l2_rel_error"] = data.get("logits_l2_rel_error")
        entry["transport"] = next((b.get("transport") for b in data.get("backends", []) if b.get("backend") == "cuda"), None)
        entry["pass"] = err is not None and err <= THRESHOLD
    else:
        entry["pass"] = False
        entry["error"] = last_line("compare-" + name + ".log")
    simple = load("compare-" + name + "-simple.out")
    if isinstance(simple, dict):
        entry["with_simple_attention_max_rel_error"] = simple.get("logits_max_rel_error")
    plans.append(entry)
summary["correctness"] = {"threshold": THRESHOLD, "plans": plans,
                          "pass": bool(plans) and all(p["pass"] for p in plans)}

# --- attention
torch_attention = load("torch-attention.json") or {}
torch_prefill_report = load("torch-prefill.json") or {}
torch_report = torch_prefill_report if torch_prefill_report.get("torch_version") else torch_attention
torch_shapes = {(a.get("chunk"), a.get("prefix"), a.get("causal")): a for a in torch_attention.get("attention", []) or []}
shapes = []
for path in sorted(glob.glob(os.path.join(out, "bench-*.out"))):
    step = os.path.basename(path)[:-len(".out")]
    data = load(os.path.basename(path))
    entry = {"name": step[len("bench-"):], "status": status_of.get(step, {}).get("status")}
    if not isinstance(data, dict) or "tflops" not in data:
        entry["error"] = last_line(step + ".log")
        shapes.append(entry)
        continue
    entry.update({k: data.get(k) for k in ("chunk", "prefix", "causal", "heads", "kv_heads", "head_dim", "flops")})
    entry["ours"] = {"kernel": data.get("kernel"), "tflops": data.get("tflops"), "median_s": data.get("median_s"),
                     "max_rel_error": data.get("max_rel_error")}
    variants = [v for v in data.get("variants", []) if v.get("max_rel_error", 0) is not None
                and v.get("max_rel_error", 0) <= THRESHOLD]
    best = max(variants, key=lambda v: v.get("tflops", 0), default=None)
    entry["ours_best"] = best
    entry["variants"] = data.get("variants")
    t = torch_shapes.get((data.get("chunk"), data.get("prefix"), data.get("causal")))
    if t:
        flash = t.get("sdpa_flash", {})
        entry["sdpa_flash"] = {k: flash.get(k) for k in ("tflops", "median_s", "error") if k in flash}
        entry["sdpa_default"] = {k: t.get("sdpa_default", {}).get(k) for k in ("tflops", "median_s", "error")
                                 if k in t.get("sdpa_default", {})}
        entry["sdpa_mask"] = {k: t.get("sdpa_mask", {}).get(k) for k in ("tflops", "median_s", "error")
                              if k in t.get("sdpa_mask", {})}
        if flash.get("median_s"):
            # Same FLOP count on both sides: the ratio of TFLOP/s is the inverse ratio of times.
            entry["ratio_vs_sdpa_flash"] = flash["median_s"] / data["median_s"]
            if best:
                entry["ratio_best_vs_sdpa_flash"] = flash["median_s"] / best["median_s"]
    shapes.append(entry)
main = next((s for s in shapes if s.get("chunk") == 4096 and s.get("prefix") == 8192 and s.get("causal")), None)
summary["attention"] = {
    "bar": BAR,
    "kernel_for_prefill": (open(os.path.join(out, "attention-kernel.txt")).read().strip()
                           if os.path.exists(os.path.join(out, "attention-kernel.txt")) else None),
    "shapes": shapes,
    "main_shape": "chunk 4096 over prefix 8192, causal, h=32, hd=128",
    "main_ratio_vs_sdpa_flash": main.get("ratio_vs_sdpa_flash") if main else None,
    "main_best_ratio_vs_sdpa_flash": main.get("ratio_best_vs_sdpa_flash") if main else None,
}
r = summary["attention"]["main_ratio_vs_sdpa_flash"]
summary["attention"]["pass"] = (r >= BAR) if isinstance(r, (int, float)) else None

# --- prefill
torch_prefill = {c.get("context"): c for c in (torch_prefill_report.get("prefill") or {}).get("contexts", []) or []}
contexts = []
for path in sorted(glob.glob(os.path.join(out, "prefill-*.out")),
                   key=lambda p: int(os.path.basename(p)[len("prefill-"):-len(".out")])):
    step = os.path.basename(path)[:-len(".out")]
    context = int(step.split("-")[-1])
    m = load(os.path.basename(path))
    entry = {"context": context, "status": status_of.get(step, {}).get("status")}
    if isinstance(m, dict) and "ttft_s" in m:
        entry["ours_ttft_s"] = m["ttft_s"]
        entry["ours_runs_s"] = m.get("ttft_runs_s")
        ops = [op for rank in m.get("ranks", []) for op in rank.get("ops", [])]
        by_name = {}
        for op in ops:
            by_name[op["name"]] = by_name.get(op["name"], 0.0) + (op["end_s"] - op["start_s"])
        entry["ours_op_seconds"] = by_name
    else:
        entry["ours_error"] = last_line(step + ".log")
    t = torch_prefill.get(context)
    if t is not None:
        if "median_s" in t:
            entry["torch_s"] = t["median_s"]
        else:
            entry["torch_error"] = t.get("error")
    if entry.get("ours_ttft_s") and entry.get("torch_s"):
        entry["ours_over_torch"] = entry["ours_ttft_s"] / entry["torch_s"]
    contexts.append(entry)
summary["prefill"] = {"model": "llama2-7b", "plan": "single", "contexts": contexts}
summary["torch"] = {"version": torch_report.get("torch_version"), "cuda": torch_report.get("torch_cuda"),
                    "device": (torch_report.get("device") or {}).get("name"), "cudnn": torch_report.get("cudnn"),
                    "attention_error": torch_attention.get("error") or torch_attention.get("attention_error"),
                    "prefill_error": torch_prefill_report.get("error")
                    or (torch_prefill_report.get("prefill") or {}).get("error")}
summary["steps"] = steps

with open(os.path.join(out, "summary.json"), "w", encoding="utf-8") as f:
    json.dump(summary, f, indent=1)
    f.write("\n")

def fmt(x, spec):
    return format(x, spec) if isinstance(x, (int, float)) else "-"

g = summary["gpu"]
print(f"GPU: {g['name']} x{g['count']}  driver {g['driver']}  CUDA runtime {g['cuda_runtime']} (built with {g['cuda_build']})"
      f"  torch {summary['torch']['version']}")
b = summary["build"]
print(f"build: configure {b['configure']}, build {b['build']}, cuda backend {b['cuda_backend']}, nccl {b['nccl']}")
print(f"correctness (CUDA fp16 vs CPU fp32 logits, <= {THRESHOLD}): {'PASS' if summary['correctness']['pass'] else 'FAIL'}")
for p in plans:
    print(f"  {p['plan']:<34} {fmt(p.get('logits_max_rel_error'), '.2e'):>10}  {'ok' if p['pass'] else 'FAIL ' + str(p.get('error') or '')}")
print(f"attention (TFLOP/s, kvr formula; ratio = SDPA flash time / ours; bar {BAR} at 4096 over 8192): "
      f"{'PASS' if summary['attention']['pass'] else 'FAIL' if summary['attention']['pass'] is False else 'n/a'}")
print(f"  kernel used for the prefills: {summary['attention']['kernel_for_prefill']}")
for s in shapes:
    o, bst = s.get("ours") or {}, s.get("ours_best") or {}
    print(f"  {s['name']:<28} ours {fmt(o.get('tflops'), '7.1f')} ({o.get('kernel')}, err {fmt(o.get('max_rel_error'), '.1e')})"
          f"  best {fmt(bst.get('tflops'), '7.1f')} ({bst.get('kernel')})"
          f"  sdpa-flash {fmt((s.get('sdpa_flash') or {}).get('tflops'), '7.1f')}"
          f"  sdpa-default {fmt((s.get('sdpa_default') or {}).get('tflops'), '7.1f')}"
          f"  ratio {fmt(s.get('ratio_vs_sdpa_flash'), '.2f')} / best {fmt(s.get('ratio_best_vs_sdpa_flash'), '.2f')}"
          + (f"  error: {s.get('error')}" if s.get("error") else ""))
print("prefill llama2-7b single (seconds; ours/torch < 1 means kvr is faster):")
for c in contexts:
    print(f"  {c['context']:>6}  ours {fmt(c.get('ours_ttft_s'), '8.4f')}  torch {fmt(c.get('torch_s'), '8.4f')}"
          f"  ours/torch {fmt(c.get('ours_over_torch'), '.3f')}"
          + (f"  ours error: {c['ours_error']}" if c.get("ours_error") else "")
          + (f"  torch error: {c['torch_error']}" if c.get("torch_error") else ""))
bad = [s for s in steps if s.get("status") != "ok"]
print(f"steps: {len(steps)} run, {len(bad)} not ok" + (": " + ", ".join(f"{s['step']} ({s['status']})" for s in bad) if bad else ""))
print(f"summary: {os.path.join(out, 'summary.json')}")
PY
  then
    # The summariser itself failed: still leave a summary.json that says so.
    printf '{"schema": "kvr-gpu-check@1", "error": "the summary script failed; see the *.out and *.log files", "out_dir": "%s"}\n' \
      "$out" >"$out/summary.json"
    echo "[gpu-check] summary script failed; wrote a minimal $out/summary.json" >&2
  fi
}
trap 'write_summary' EXIT
trap 'log "interrupted"; exit 130' INT TERM

# --- 1. build -------------------------------------------------------------------------------------
if [[ -z "${KVR_EXEC:-}" ]]; then
  arch="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 | tr -d ' .')"
  [[ "$arch" =~ ^[0-9]+$ ]] || arch=90
  log "building kvr-exec for sm_$arch into $build"
  # cmake and ninja print status and compiler errors on stdout: send everything to the .log.
  run_step configure 120 bash -c 'exec "$@" 1>&2' _ cmake -S "$root" -B "$build" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$arch" -DCMAKE_CUDA_COMPILER="$cuda_home/bin/nvcc"
  run_step build 240 bash -c 'exec "$@" 1>&2' _ cmake --build "$build" --target kvr-exec -j "$(nproc)"
fi

# --- 2. devices -----------------------------------------------------------------------------------
run_step devices 30 "$exe" devices

# --- 3. attention ---------------------------------------------------------------------------------
llama=(--heads 32 --kv-heads 32 --head-dim 128 --warmup 3 --repeats 10)
run_step bench-c4096-p8192-causal 60 "$exe" bench-attention "${llama[@]}" --chunk 4096 --prefix 8192
run_step bench-c2048-p0-causal 60 "$exe" bench-attention "${llama[@]}" --chunk 2048 --prefix 0
run_step bench-c1024-p15360-causal 60 "$exe" bench-attention "${llama[@]}" --chunk 1024 --prefix 15360
run_step bench-c4096-p8192-dense 60 "$exe" bench-attention "${llama[@]}" --chunk 4096 --prefix 8192 --dense

# The fastest tiling whose output checked out at the main shape runs the prefills.
kernel="$("$python" - "$out/bench-c4096-p8192-causal.out" <<'PY' 2>/dev/null
import json, sys
try:
    data = json.load(open(sys.argv[1]))
    ok = [v for v in data.get("variants", []) if v.get("max_rel_error") is not None and v["max_rel_error"] <= 2e-2]
    print(max(ok, key=lambda v: v["tflops"])["kernel"] if ok else "")
except Exception:
    print("")
PY
)"
echo "${kernel:-default}" >"$out/attention-kernel.txt"
log "attention kernel for the prefills: ${kernel:-default}"

if [[ -z "${KVR_GPU_CHECK_SKIP_TORCH:-}" ]]; then
  # shellcheck disable=SC2086
  run_step torch-attention 90 "$python" "$root/native/bench/torch_baseline.py" --skip-prefill \
    --out "$out/torch-attention.json" ${KVR_GPU_CHECK_TORCH_ARGS:-}
fi

# --- 4. correctness -------------------------------------------------------------------------------
shopt -s nullglob
for plan in "$root"/native/scripts/plans/check-*.json; do
  name="$(basename "$plan" .json)"
  run_step "compare-$name" 90 "$exe" compare "$plan" --backends cpu,cuda
  rc=$?
  error="$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["logits_max_rel_error"])' \
    "$out/compare-$name.out" 2>/dev/null)"
  # A large error (rc 0) or a CUDA failure (rc 1): does the simple attention kernel do better than
  # the flash kernel? (Not for rc 2/3/4: bad plan, no CUDA, out of memory.)
  if [[ $rc -eq 1 ]] || { [[ $rc -eq 0 ]] &&
      ! "$python" -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= 2e-2 else 1)' "${error:-nan}" 2>/dev/null; }; then
    KVR_CUDA_ATTENTION=simple run_step "compare-$name-simple" 90 "$exe" compare "$plan" --backends cpu,cuda
  fi
done

# --- 5. prefill performance -----------------------------------------------------------------------
for context in 1024 2048 4096 8192 16384 32768; do
  plan="$root/native/scripts/plans/prefill-llama2-7b-single-$context.json"
  limit=60
  [[ $context -ge 16384 ]] && limit=90
  [[ $context -ge 32768 ]] && limit=120
  if [[ -n "$kernel" ]]; then
    KVR_CUDA_ATTENTION="$kernel" run_step "prefill-$context" "$limit" "$exe" run "$plan" --backend cuda \
      --warmup 1 --repeats 3
  else
    run_step "prefill-$context" "$limit" "$exe" run "$plan" --backend cuda --warmup 1 --repeats 3
  fi
done

# --- 6. PyTorch baseline --------------------------------------------------------------------------
if [[ -z "${KVR_GPU_CHECK_SKIP_TORCH:-}" ]]; then
  # shellcheck disable=SC2086
  run_step torch-prefill 180 "$python" "$root/native/bench/torch_baseline.py" --skip-attention \
    --out "$out/torch-prefill.json" ${KVR_GPU_CHECK_TORCH_ARGS:-}
fi

# --- 7. summary -----------------------------------------------------------------------------------
write_summary
log "done in $(($(date +%s) - started))s"
