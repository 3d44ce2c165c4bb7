# The steps of native/scripts/gpu-run.sh. Each runs in its own process under the parent's timeout
# (gpu-run.sh --run-step NAME) with KVR_GPU_RUN_ROOT, KVR_GPU_RUN_OUT, KVR_GPU_RUN_BUILD,
# KVR_GPU_RUN_DRY, KVR_STEP_DEADLINE (epoch seconds) and KVR_STEP_INDEX set. A step:
# - runs its commands through `sub`, which cuts each to the step's time left and appends one line
#   per command to OUT/<step>.progress.jsonl as soon as it ends (the parent turns those lines into
#   the step JSON's "finished", also when the step is killed);
# - adds numbers with `result JSON`;
# - hands facts to later steps as KEY=VALUE lines in OUT/state.env (SKIP_<step>=why skips one);
# - exits 0 when it ran and its checks passed, 125 when it could not start (its last stderr line
#   says why), anything else when it failed.
# stdout goes to OUT/<step>.out (readable), stderr to OUT/<step>.log; command outputs to OUT/<step>/.

root="$KVR_GPU_RUN_ROOT"
out="$KVR_GPU_RUN_OUT"
build="$KVR_GPU_RUN_BUILD"
python="${KVR_GPU_RUN_PYTHON:-python3}"
threshold="${KVR_GPU_RUN_THRESHOLD:-2e-2}"
probe="${KVR_GPU_RUN_PROBE:-$root/calibration/probe/torch_probe.py}"

# shellcheck source=json.sh
source "$root/native/scripts/lib/json.sh"
# shellcheck source=picked-attention.sh
source "$root/native/scripts/lib/picked-attention.sh"
left_s() { echo $((KVR_STEP_DEADLINE - $(date +%s))); }
state_get() { sed -n "s/^$1=//p" "$out/state.env" 2>/dev/null | tail -n 1; }
state_set() { echo "$1=$2" >>"$out/state.env"; }
result() { printf '%s\n' "$1" >>"$out/$step.progress.jsonl"; }

# sub NAME LIMIT_S CMD...: stdout -> OUT/<step>/NAME.out, stderr -> OUT/<step>/NAME.log, one
# progress line; cut to the step's time left (minus 1 s for the step's own bookkeeping).
sub() {
  local name="$1" limit="$2"
  shift 2
  local left rc status t0
  left=$(($(left_s) - 1))
  if [[ $left -lt 2 ]]; then
    result "{\"name\": \"$name\", \"status\": \"skipped\", \"why\": \"no time left in the step\"}"
    : >"$out/$step/.timed-out"
    return 125
  fi
  [[ $limit -gt $left ]] && limit=$left
  t0="$(date +%s.%N)"
  # Named before the fork, so that a TERM landing between the fork and sub_pid's assignment still
  # finds the command (on_step_term stops it through `jobs -p`).
  sub_name=$name sub_t0=$t0
  # In the background so that a TERM to this step (its own limit, or gpu-run interrupted) reaches
  # the trap in run_step_body at once, which passes it on to this command's process group.
  timeout --kill-after=3 "$limit" "$@" >"$out/$step/$name.out" 2>"$out/$step/$name.log" </dev/null &
  sub_pid=$!
  wait "$sub_pid"
  rc=$?
  sub_pid="" sub_name=""
  case $rc in 0) status=ok ;; 124 | 137) status=timeout; : >"$out/$step/.timed-out" ;; *) status=failed ;; esac
  result "{\"name\": \"$name\", \"status\": \"$status\", \"rc\": $rc, \"seconds\": $(awk "BEGIN { printf \"%.2f\", $(date +%s.%N) - $t0 }"), \"limit_s\": $limit}"
  echo "$name: $status (rc $rc)"
  [[ $status == ok ]] || tail -n 3 "$out/$step/$name.log" | sed 's/^/    /'
  return $rc
}

# json_get FILE EXPR: a value of a JSON file (EXPR in Python over `d`), empty when absent.
json_get() {
  "$python" -c 'import json, sys
try:
    d = json.load(open(sys.argv[1]))
    v = eval(sys.argv[2], {"d": d})
    print("" if v is None else (json.dumps(v) if isinstance(v, (dict, list, bool)) else v))
except Exception:
    print("")' "$1" "$2" 2>/dev/null
}

# json_num FILE KEY: the first number under "KEY" in a JSON file, empty when absent (no Python:
# cheap enough to call per plan).
json_num() {
  grep -o "\"$2\": *-\{0,1\}[0-9][0-9.eE+-]*" "$1" 2>/dev/null | head -n 1 | sed 's/.*: *//'
}

exe() {
  local e
  e="${KVR_EXEC:-$(state_get KVR_EXEC)}"
  [[ -n "$e" && -x "$e" ]] || { echo "no kvr-exec (the build step did not produce one)" >&2; return 1; }
  echo "$e"
}

# --- 1 preflight ----------------------------------------------------------------------------------
first_line() { "$@" 2>/dev/null | grep -v '^\s*$' | head -n 1; }
step_preflight() {
  local facts=() plan=() line
  fact() { facts+=("$(json_str "$1"): $(json_str "$2")"); printf '  %-14s %s\n' "$1" "${2:--}"; }
  decide() { plan+=("$(json_str "$1"): $(json_str "$2")"); printf '  %-12s %s\n' "$1" "$2"; }
  echo "host:"
  local smi gpus=0 gpu_name="" compute_cap=""
  smi="$(timeout 15 nvidia-smi --query-gpu=index,name,driver_version,memory.total,compute_cap --format=csv,noheader 2>/dev/null)"
  if [[ -n "$smi" ]]; then
    gpus="$(grep -c . <<<"$smi")"
    gpu_name="$(head -n 1 <<<"$smi" | cut -d, -f2 | sed 's/^ *//')"
    compute_cap="$(head -n 1 <<<"$smi" | cut -d, -f5 | tr -d ' ')"
    fact gpus "$gpus"
    fact gpu "$gpu_name"
    fact driver "$(head -n 1 <<<"$smi" | cut -d, -f3 | tr -d ' ')"
    fact memory "$(head -n 1 <<<"$smi" | cut -d, -f4 | sed 's/^ *//')"
    fact compute_cap "$compute_cap"
  else
    fact gpus 0
    fact gpu "none (nvidia-smi found no GPU)"
  fi
  local nvcc_v cmake_v ninja_v make_v cxx_v py_v torch_v nccl_h nccl_v cublas node_v
  nvcc_v="$(nvcc --version 2>/dev/null | grep -o 'release [0-9.]*' | head -n 1)"
  cmake_v="$(first_line cmake --version | grep -o '[0-9][0-9.]*' | head -n 1)"
  ninja_v="$(first_line ninja --version)"
  make_v="$(first_line make --version | grep -o '[0-9][0-9.]*' | head -n 1)"
  cxx_v="$(first_line g++ --version)"
  py_v="$(first_line "$python" --version)"
  # A cold `import torch` takes seconds. A check cut by its timeout counts as torch present (the
  # baselines then try, and report their own errors); an import error as absent.
  local torch_rc
  torch_v="$(timeout 20 "$python" -c 'import torch
p = torch.cuda.get_device_properties(0) if torch.cuda.is_available() else None
print(torch.__version__, "cuda", torch.version.cuda, ("gpu sms %d" % p.multi_processor_count) if p else "no-gpu")' 2>/dev/null | tail -n 1)"
  torch_rc=$?  # the pipeline's status (pipefail): 124 when timeout cut it
  [[ $torch_rc -eq 124 ]] && torch_v="unknown (the import took over 20 s) gpu"
  nccl_h="$(ls "${NCCL_HOME:-/nonexistent}/include/nccl.h" /usr/include/nccl.h /usr/local/include/nccl.h 2>/dev/null | head -n 1)"
  nccl_v=""
  [[ -n "$nccl_h" ]] && nccl_v="$(awk '/#define NCCL_(MAJOR|MINOR|PATCH) /{printf "%s%s", sep, $3; sep="."}' "$nccl_h")"
  cublas=""
  [[ -f "$CUDA_HOME/include/cublas_v2.h" ]] && cublas="$CUDA_HOME/include/cublas_v2.h"
  node_v=""
  if command -v node >/dev/null 2>&1; then node_v="$(node --version 2>/dev/null) (on PATH)"
  elif [[ -f "$root/.devtools/node.xz" ]]; then node_v="packed (.devtools/node.xz)"; fi
  fact nvcc "${nvcc_v:-}"
  fact cuda_home "$CUDA_HOME"
  fact cublas "${cublas:-}"
  fact cmake "${cmake_v:-}"
  fact ninja "${ninja_v:-}"
  fact make "${make_v:-}"
  fact cxx "${cxx_v:-}"
  fact python "${py_v:-}"
  fact torch "${torch_v:-}"
  fact sms "$(grep -o 'sms [0-9]*' <<<"$torch_v" | cut -d' ' -f2)"
  fact nccl "${nccl_v:+$nccl_v at $nccl_h}"
  fact node "${node_v:-}"
  result "{\"facts\": {$(IFS=,; echo "${facts[*]}")}}"

  echo "plan:"
  local no_gpu="" builder="" cmake_ok=0
  [[ $gpus -ge 1 ]] || no_gpu="no GPU (nvidia-smi found none)"
  state_set GPUS "$gpus"
  state_set GPU_NAME "$gpu_name"
  state_set ARCH "$(tr -d '.' <<<"$compute_cap")"
  if [[ -n "$cmake_v" ]] && printf '3.18\n%s\n' "$cmake_v" | sort -V -C; then cmake_ok=1; fi
  local torch_ok=0
  [[ "$torch_v" == *" gpu"* ]] && torch_ok=1
  # probe
  # The probe runs even when the quick torch check above failed (a slow import, say): it reports
  # its own errors, and its data is the most valuable of the session.
  if [[ ! -f "$probe" ]]; then
    state_set SKIP_probe "${probe#"$root"/} is not in this checkout"
  fi
  if [[ -n "$(state_get SKIP_probe)" ]]; then decide probe "skip: $(state_get SKIP_probe)"
  else decide probe "${probe#"$root"/}$([[ $torch_ok -eq 1 ]] || echo " (the torch check failed: ${torch_v:-no torch})")"; fi
  # build
  if [[ -n "${KVR_EXEC:-}" ]]; then
    state_set SKIP_build "KVR_EXEC=$KVR_EXEC given"
    state_set KVR_EXEC "$KVR_EXEC"
  elif [[ -z "$nvcc_v" ]]; then
    state_set SKIP_build "no nvcc under CUDA_HOME=$CUDA_HOME or on PATH"
  elif [[ -z "$cublas" ]]; then
    state_set SKIP_build "no cuBLAS ($CUDA_HOME/include/cublas_v2.h)"
  elif [[ $cmake_ok -eq 1 && -n "$ninja_v" ]]; then builder=ninja
  elif [[ $cmake_ok -eq 1 && -n "$make_v" ]]; then builder=make
  else builder=plain; fi
  state_set BUILDER "$builder"
  if [[ -n "$builder" ]]; then
    decide build "$builder$([[ $builder == ninja ]] && echo ', then Makefiles, then build-plain.sh on failure')$([[ $builder == make ]] && echo ' (no ninja), then build-plain.sh on failure')$([[ $builder == plain ]] && echo " (cmake ${cmake_v:-missing}, needs >= 3.18)")"
  else
    decide build "skip: $(state_get SKIP_build)"
  fi
  local s why
  for s in correctness attention calibrate prefill slices; do
    why=""
    [[ -n "$no_gpu" ]] && why="$no_gpu"
    [[ -z "$why" && -z "$builder" && -z "${KVR_EXEC:-}" ]] && why="nothing to build with ($(state_get SKIP_build))"
    if [[ -z "$why" && $s == calibrate && -z "$node_v" ]]; then
      why="no Node: run native/scripts/pack-gpu-runtime.sh here and carry .devtools and dist"
    elif [[ -z "$why" && $s == calibrate && ! -f "$root/dist/cli/main.js" ]]; then
      why="no dist/cli/main.js: run native/scripts/pack-gpu-runtime.sh here and carry dist"
    fi
    if [[ -n "$why" ]]; then
      state_set "SKIP_$s" "$why"
      decide "$s" "skip: $why"
    fi
  done
  [[ -z "$(state_get SKIP_correctness)" ]] && decide correctness "kvr-exec compare on $(ls "$root"/native/scripts/plans/check-*.json 2>/dev/null | wc -l) check plans"
  [[ -z "$(state_get SKIP_attention)" ]] && decide attention "bench-attention$([[ $torch_ok -eq 1 ]] && echo ' + SDPA' || echo ' (no torch: no SDPA)'), picks the tiling for the steps after it"
  [[ -z "$(state_get SKIP_calibrate)" ]] && decide calibrate "kvr calibrate + validate, llama2-7b, whole GPU, the tiling attention picked$([[ $gpus -lt 2 ]] && echo ' (single only: tsp/kvr-e/kvr-s need 2+ GPUs here, else step 8)')"
  [[ -z "$(state_get SKIP_prefill)" ]] && decide prefill "kvr-exec llama2-7b 1k-16k$([[ $torch_ok -eq 1 ]] && echo ' + PyTorch eager' || echo ' (no torch)')"
  [[ -z "$(state_get SKIP_slices)" ]] && decide slices "only if time is left$([[ -z "$node_v" ]] && echo ' (no Node: compare and links only)')"
  state_set TORCH_OK "$torch_ok"
  state_set NODE_OK "$([[ -n "$node_v" ]] && echo 1 || echo 0)"
  result "{\"plan\": {$(IFS=,; echo "${plan[*]}")}}"
  return 0
}

# --- 2 probe --------------------------------------------------------------------------------------
step_probe() {
  local budget=$(($(left_s) - 5))
  [[ $budget -ge 5 ]] || budget=5
  sub torch-probe $((budget + 4)) "$python" "$probe" --out "$out/probe.json" --budget-s "$budget"
}

# --- 3 build --------------------------------------------------------------------------------------
unpack_node() {
  # The CLI resolves its packages from the repository root: link the carried ones when it has none.
  if [[ ! -e "$root/node_modules" && -d "$root/.devtools/node_modules" ]]; then ln -s .devtools/node_modules "$root/node_modules"; fi
  command -v node >/dev/null 2>&1 && { node --version; return 0; }
  [[ -f "$root/.devtools/node.xz" ]] || { echo "no node and no .devtools/node.xz" >&2; return 1; }
  mkdir -p /tmp/kvr-node/bin || return 1
  xz -dc "$root/.devtools/node.xz" >/tmp/kvr-node/bin/node.tmp 2>/dev/null ||
    "$python" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
      "$root/.devtools/node.xz" /tmp/kvr-node/bin/node.tmp || return 1
  chmod +x /tmp/kvr-node/bin/node.tmp && mv /tmp/kvr-node/bin/node.tmp /tmp/kvr-node/bin/node || return 1
  /tmp/kvr-node/bin/node --version
}
step_build() {
  local arch builder jobs addon_inc="" built="" addon=""
  arch="$(state_get ARCH)"
  [[ "$arch" =~ ^[0-9]+$ ]] || arch=90
  builder="$(state_get BUILDER)"
  builder="${builder:-ninja}"  # preflight cut short: try them all
  jobs="$(nproc 2>/dev/null || echo 4)"
  if [[ "$(state_get NODE_OK)" == 1 ]]; then
    export -f unpack_node
    export root python
    sub node 30 bash -c unpack_node
    local headers
    headers="$(ls -d "$root"/node_modules/node-api-headers/include "$root"/.devtools/node_modules/node-api-headers/include 2>/dev/null | head -n 1)"
    [[ -n "$headers" ]] && addon_inc="-DCMAKE_JS_INC=$headers"
  fi
  local configure=(-S "$root" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$arch"
    -DCMAKE_CUDA_COMPILER="$CUDA_HOME/bin/nvcc" ${addon_inc:+"$addon_inc"})
  # cmake and the generators print compiler errors on stdout: everything goes to the .log. A failed
  # attempt falls back to the next builder; one cut by the time limit does not (the next would be
  # no faster).
  local rc=0
  if [[ $builder == ninja ]]; then
    sub cmake-ninja-configure 60 bash -c 'exec "$@" 1>&2' _ cmake "${configure[@]}" -B "$build" -G Ninja &&
      sub cmake-ninja-build 600 bash -c 'exec "$@" 1>&2' _ cmake --build "$build" --target kvr-exec -j "$jobs"
    rc=$?
    if [[ $rc -eq 0 ]]; then built="$build"; elif [[ $rc -ne 124 && $rc -ne 137 ]]; then builder=make; fi
  fi
  if [[ -z "$built" && $builder == make ]]; then
    sub cmake-make-configure 60 bash -c 'exec "$@" 1>&2' _ cmake "${configure[@]}" -B "$build-make" -G "Unix Makefiles" &&
      sub cmake-make-build 600 bash -c 'exec "$@" 1>&2' _ cmake --build "$build-make" --target kvr-exec -j "$jobs"
    rc=$?
    if [[ $rc -eq 0 ]]; then built="$build-make"; elif [[ $rc -ne 124 && $rc -ne 137 ]]; then builder=plain; fi
  fi
  if [[ -z "$built" && $builder == plain ]]; then
    sub build-plain 600 bash "$root/native/scripts/build-plain.sh" --out "$build-plain" --arch "$arch" --jobs "$jobs" &&
      built="$build-plain"
  fi
  [[ -n "$built" && -x "$built/kvr-exec" ]] || { echo "no build of kvr-exec succeeded" >&2; return 1; }
  state_set KVR_EXEC "$built/kvr-exec"
  result "{\"kvr_exec\": $(json_str "$built/kvr-exec")}"
  sub devices 20 "$built/kvr-exec" devices
  # The Node addon (for kvr calibrate / validate) when cmake configured it.
  if [[ -n "$addon_inc" && $built != "$build-plain" ]] &&
    sub addon 300 bash -c 'exec "$@" 1>&2' _ cmake --build "$built" --target kvr_addon -j "$jobs"; then
    addon="$(find "$built" -maxdepth 3 -name kvr.node -type f | head -n 1)"
    # native/js/addon.ts loads build/Release/kvr.node (a dry run leaves the repository's alone).
    if [[ -n "$addon" ]] && { [[ "$KVR_GPU_RUN_DRY" == 1 ]] ||
      { mkdir -p "$root/build/Release" && cp "$addon" "$root/build/Release/kvr.node"; }; }; then
      state_set ADDON 1
      result "{\"addon\": $(json_str "$addon")}"
    fi
  fi
  if [[ "$(state_get ADDON)" != 1 ]]; then
    state_set SKIP_calibrate "no Node addon was built (Node and node-api-headers are needed: carry .devtools and dist)"
  fi
  return 0
}

# --- 4 correctness --------------------------------------------------------------------------------
ok_error() { [[ -n "$1" ]] && awk -v e="$1" -v t="$threshold" 'BEGIN { exit !(e + 0 <= t + 0) }'; }
step_correctness() {
  local e plan name rc err failed=0
  e="$(exe)" || return 125
  shopt -s nullglob
  for plan in "$root"/native/scripts/plans/check-*.json; do
    name="$(basename "$plan" .json)"
    sub "compare-$name" 30 "$e" compare "$plan" --backends cpu,cuda
    rc=$?
    err="$(json_num "$out/$step/compare-$name.out" logits_max_rel_error)"
    result "{\"plan\": \"$name\", \"rc\": $rc, \"logits_max_rel_error\": ${err:-null}, \"pass\": $(ok_error "$err" && echo true || echo false)}"
    if ! ok_error "$err"; then
      failed=1
      # Does the simple attention kernel do better than the flash one? (not for a bad plan or no device)
      if [[ $rc -eq 0 || $rc -eq 1 ]]; then
        KVR_CUDA_ATTENTION=simple sub "compare-$name-simple" 30 "$e" compare "$plan" --backends cpu,cuda
        err="$(json_num "$out/$step/compare-$name-simple.out" logits_max_rel_error)"
        result "{\"plan\": \"$name\", \"attention\": \"simple\", \"logits_max_rel_error\": ${err:-null}}"
      fi
    fi
  done
  result "{\"threshold\": $threshold, \"pass\": $([[ $failed -eq 0 ]] && echo true || echo false)}"
  return $failed
}

# --- 5 attention against SDPA ---------------------------------------------------------------------
step_attention() {
  local e shape chunk prefix dense name kernel
  e="$(exe)" || return 125
  local llama=(--heads 32 --kv-heads 32 --head-dim 128 --warmup 3 --repeats 10)
  local names=()
  for shape in 4096:8192: 2048:0: 1024:15360: 4096:8192:dense; do
    IFS=: read -r chunk prefix dense <<<"$shape"
    name="bench-c$chunk-p$prefix-${dense:-causal}"
    names+=("$name")
    sub "$name" 25 "$e" bench-attention "${llama[@]}" --chunk "$chunk" --prefix "$prefix" ${dense:+--dense}
  done
  # One result line per shape; the fastest tiling whose output checked out at the main shape (the
  # first) runs the prefills: its name is the last line.
  "$python" - "$out/$step" "${names[@]}" >"$out/$step/results.txt" <<'PY'
import json, os, sys
folder, names = sys.argv[1], sys.argv[2:]
best = ""
for i, name in enumerate(names):
    try:
        d = json.load(open(os.path.join(folder, name + ".out")))
    except (OSError, ValueError):
        d = {}
    print(json.dumps({"shape": name, "kernel": d.get("kernel"), "tflops": d.get("tflops"),
                      "max_rel_error": d.get("max_rel_error")}))
    ok = [v for v in d.get("variants", []) if v.get("max_rel_error") is not None and v["max_rel_error"] <= 2e-2]
    if i == 0 and ok:
        best = max(ok, key=lambda v: v.get("tflops", 0))["kernel"]
print(best)
PY
  kernel="$(tail -n 1 "$out/$step/results.txt")"
  sed '$d' "$out/$step/results.txt" >>"$out/$step.progress.jsonl"
  [[ -n "$kernel" ]] && state_set KVR_CUDA_ATTENTION "$kernel"
  result "{\"kernel_for_prefill\": $(json_str "${kernel:-default}")}"
  if [[ "$(state_get TORCH_OK)" == 1 ]]; then
    sub torch-attention 60 "$python" "$root/native/bench/torch_baseline.py" --skip-prefill --out "$out/$step/torch-attention.json"
  else
    result '{"name": "torch-attention", "status": "skipped", "why": "no PyTorch with CUDA"}'
  fi
  return 0
}

# --- 6 calibrate (whole GPU) ----------------------------------------------------------------------
gpu_profile_name() {
  if [[ -n "${KVR_GPU_NAME:-}" ]]; then echo "$KVR_GPU_NAME"; return; fi
  local name
  name="$(state_get GPU_NAME)"
  case "$name" in
    *H200*) echo h200 ;;
    *H100*) echo h100-sxm ;;
    *A100*80GB*) echo a100-80g ;;
    *) echo "${name:-gpu}" | tr '[:upper:] ' '[:lower:]-' | tr -cd 'a-z0-9-' ;;
  esac
}
# The attention tiling calibration and validation time (lib/picked-attention.sh: step 5's pick, else
# the caller's KVR_CUDA_ATTENTION, else the default), exported and recorded in the step's JSON.
use_picked_attention() {
  export_picked_attention "$out/state.env"
  result "{\"attention_kernel\": $(json_str "${KVR_CUDA_ATTENTION:-default}"), \"from\": \"$attention_from\"}"
}
step_calibrate() {
  local gpu gpus ranks="" r total
  gpu="$(gpu_profile_name)"
  gpus="$(state_get GPUS)"
  for r in 2 4 8; do [[ $r -le ${gpus:-1} ]] && ranks="${ranks:+$ranks,}$r"; done
  use_picked_attention
  total=$(left_s)
  sub calibrate $((total * 55 / 100)) node "$root/bin/kvr.js" calibrate --backend cuda --name "$gpu" --model llama2-7b \
    --tokens 512,2048,8192 --prefixes 0,2048,8192 --link-tokens 1024,8192 --warmup 1 --repeats 3 || return 1
  # kvr calibrate writes kvr-out/profiles/ in the working directory; validate's --gpu finds it there.
  mkdir -p "$out/$step/profiles" && cp "kvr-out/profiles/$gpu.json" "$out/$step/profiles/" 2>/dev/null
  result "{\"profile\": \"kvr-out/profiles/$gpu.json\"}"
  [[ -n "$ranks" ]] || result '{"note": "one GPU: tsp, kvr-e and kvr-s run on SM partitions in the slices step"}'
  sub validate 600 node "$root/bin/kvr.js" validate --backend cuda --gpu "$gpu" --model llama2-7b \
    --single 1024,4096,16384 --ranks "${ranks:-none}" --contexts 4096,16384 --repeats 2 || return 1
  cp "kvr-out/validation/$gpu/report.json" "$out/$step/validation-report.json" 2>/dev/null
  result "{\"report\": \"kvr-out/validation/$gpu/report.json\", \"overall\": $(json_get "$out/$step/validation-report.json" 'd["overall"]' | sed 's/^$/null/'), \"by_strategy\": $(json_get "$out/$step/validation-report.json" 'd["summary"]' | sed 's/^$/null/')}"
  return 0
}

# --- 7 prefill against PyTorch eager --------------------------------------------------------------
step_prefill() {
  local e context kernel contexts=(1024 2048 4096 8192 16384)
  e="$(exe)" || return 125
  kernel="$(state_get KVR_CUDA_ATTENTION)"
  for context in "${contexts[@]}"; do
    KVR_CUDA_ATTENTION="${kernel:-${KVR_CUDA_ATTENTION:-}}" sub "prefill-$context" 30 "$e" run \
      "$root/native/scripts/plans/prefill-llama2-7b-single-$context.json" --backend cuda --warmup 1 --repeats 3
    result "{\"context\": $context, \"ttft_s\": $(json_num "$out/$step/prefill-$context.out" ttft_s | sed 's/^$/null/')}"
  done
  if [[ "$(state_get TORCH_OK)" == 1 ]]; then
    sub torch-prefill 120 "$python" "$root/native/bench/torch_baseline.py" --skip-attention \
      --contexts "$(IFS=,; echo "${contexts[*]}")" --out "$out/$step/torch-prefill.json"
  else
    result '{"name": "torch-prefill", "status": "skipped", "why": "no PyTorch with CUDA"}'
  fi
  return 0
}

# --- 8 green-context slices -----------------------------------------------------------------------
step_slices() {
  local e partitions="${KVR_SM_PARTITIONS:-8}" plan gpu slice_name total
  e="$(exe)" || return 125
  for plan in check-tiny-llama-kvr-p4 check-tiny-falcon-tsp-p4; do
    sub "partitions-compare-$plan" 40 "$e" compare "$root/native/scripts/plans/$plan.json" --backends cpu,cuda \
      --sm-partitions "$partitions"
    result "{\"plan\": \"$plan\", \"sm_partitions\": $partitions, \"logits_max_rel_error\": $(json_get "$out/$step/partitions-compare-$plan.out" 'd["logits_max_rel_error"]' | sed 's/^$/null/')}"
  done
  # 4 ranks, one outgoing and one incoming link each, 10 GB/s and 5 us.
  "$python" - "$out/$step/links-4.json" <<'PY'
import json, sys
ranks, rate = 4, 10e9
routes = [{"src": s, "dst": d, "latency_s": 5e-6, "resources": [s, ranks + d]}
          for s in range(ranks) for d in range(ranks) if s != d]
json.dump({"capacity": [rate] * (2 * ranks), "routes": routes}, open(sys.argv[1], "w"))
PY
  sub links-check 40 "$e" run "$root/native/scripts/plans/check-tiny-llama-kvr-p4.json" --backend cuda \
    --sm-partitions "$partitions" --links "$out/$step/links-4.json" --warmup 1 --repeats 2
  if [[ "$(state_get ADDON)" != 1 ]]; then
    result '{"name": "calibrate-slice", "status": "skipped", "why": "no Node addon"}'
    return 0
  fi
  gpu="$(gpu_profile_name)"
  use_picked_attention
  total=$(left_s)
  sub calibrate-slice $((total * 55 / 100)) node "$root/bin/kvr.js" calibrate --backend cuda --name "$gpu" \
    --sm-partitions "$partitions" --model llama2-7b --tokens 512,2048,8192 --prefixes 0,2048,8192 \
    --link-tokens 1024,8192 --warmup 1 --repeats 3 || return 1
  # "wrote .../h200/16sm.json: profile h200/16sm on NVIDIA H200 x1, 8 SM partitions of 16 SMs, ..."
  slice_name="$(sed -n 's/^wrote .*: profile \([^ ]*\) on .*/\1/p' "$out/$step/calibrate-slice.out" | head -n 1)"
  [[ -n "$slice_name" ]] || return 1
  result "{\"profile\": \"kvr-out/profiles/$slice_name.json\"}"
  sub validate-slice 600 node "$root/bin/kvr.js" validate --backend cuda --gpu "$slice_name" \
    --sm-partitions "$partitions" --model llama2-7b --single none --ranks 2,4,8 --contexts 8192 --repeats 2 || return 1
  cp "kvr-out/validation/$slice_name/report.json" "$out/$step/validation-report.json" 2>/dev/null
  result "{\"report\": \"kvr-out/validation/$slice_name/report.json\", \"by_strategy\": $(json_get "$out/$step/validation-report.json" 'd["summary"]' | sed 's/^$/null/')}"
  return 0
}

on_step_term() {
  echo "stopped (TERM)" >&2
  if [[ -n "$sub_name" ]]; then
    # The command's timeout has a process group of its own: it passes the TERM on to it.
    # shellcheck disable=SC2046 # one word per job
    kill -TERM $sub_pid $(jobs -p) 2>/dev/null
    result "{\"name\": \"$sub_name\", \"status\": \"stopped\", \"seconds\": $(awk "BEGIN { printf \"%.2f\", $(date +%s.%N) - $sub_t0 }")}"
  fi
  exit 124
}

run_step_body() {
  step="$1"
  mkdir -p "$out/$step"
  case "$step" in
    preflight | probe | build | correctness | calibrate | attention | prefill | slices) ;;
    *) echo "unknown step $step" >&2; return 2 ;;
  esac
  rm -f "$out/$step/.timed-out"
  # timeout runs each command in a process group of its own: pass a TERM on to it, or it would
  # outlive this step.
  sub_pid="" sub_name=""
  trap on_step_term TERM INT
  "step_$step"
  local rc=$?
  # A step whose command was cut to the step's time left ran out of time, whatever it returned.
  if [[ $rc -ne 125 && -f "$out/$step/.timed-out" ]]; then
    echo "a command ran out of the step's time (see finished)" >&2
    return 124
  fi
  return $rc
}
