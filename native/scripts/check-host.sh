#!/usr/bin/env bash
# Compiles and links the whole CUDA backend's host code (native/src/cuda/*.cpp, the standalone CLI
# native/cli/kvr_exec.cpp with CUDA and NCCL on, the core and the kernels) against the stub cuBLAS,
# cuBLASLt and NCCL of native/stubs/, warnings as errors, then runs the stub-linked kvr-exec: with no
# GPU here it must report "no CUDA device" cleanly (one line, exit 3), never crash, and still run
# plans on the CPU backend. What CI (.ci/run, one test) and GPU-less machines can verify of the host
# code. Usage: native/scripts/check-host.sh [--kernel-objects DIR] (objects kept by
# KVR_KERNEL_OBJECTS=DIR check-kernels.sh, so no kernel is compiled twice).
set -uo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
kernel_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --kernel-objects) [[ $# -ge 2 ]] || { echo "check-host: --kernel-objects needs a folder" >&2; exit 2; }
      kernel_args=(--kernel-objects "$2"); shift 2 ;;
    *) echo "check-host: unknown argument $1 (usage: $0 [--kernel-objects DIR])" >&2; exit 2 ;;
  esac
done
command -v nvcc >/dev/null 2>&1 || [[ -x /usr/local/cuda/bin/nvcc ]] ||
  { echo "check-host: nvcc not found" >&2; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
started=$(date +%s)

# -O0: this is a compile check (every warning as an error), the binary only has to start.
if ! bash "$root/native/scripts/build-plain.sh" --out "$work" --stubs --werror -O 0 --arch 90 "${kernel_args[@]}"; then
  echo "check-host: the CUDA backend's host code failed to compile or link against native/stubs" >&2
  exit 1
fi
exe="$work/kvr-exec"

failed=0
# expect NAME RC PATTERN CMD...: CMD exits RC and its stdout+stderr match PATTERN (grep -E).
expect() {
  local name="$1" want="$2" pattern="$3"
  shift 3
  local output rc
  output="$("$@" 2>&1)"
  rc=$?
  if [[ $rc -eq $want ]] && grep -Eq -- "$pattern" <<<"$output"; then
    printf '  %-34s ok (exit %d)\n' "$name" "$rc"
  else
    printf '  %-34s FAILED: exit %d (wanted %d), output:\n' "$name" "$rc" "$want"
    head -n 5 <<<"$output" | sed 's/^/      /'
    failed=1
  fi
}
plan="$root/native/scripts/plans/check-tiny-llama-kvr-p4.json"
expect "devices reports the stub build" 0 '"cuda":true.*"nccl":true.*stub_libraries' "$exe" devices
expect "compare cpu,cuda: no CUDA device" 3 '^kvr-exec: no-cuda-device: ' "$exe" compare "$plan" --backends cpu,cuda
expect "run --transport nccl: no device" 3 '^kvr-exec: no-cuda-device: ' "$exe" run "$plan" --backend cuda --transport nccl
expect "run --sm-partitions 2: no device" 3 '^kvr-exec: no-cuda-device: ' "$exe" run "$plan" --backend cuda --sm-partitions 2
# One process per GPU (rank 0 of 4 under mpirun): stops at "no CUDA device" before making an NCCL id.
expect "run as rank 0 of 4: no device" 3 '^kvr-exec: no-cuda-device: ' env OMPI_COMM_WORLD_RANK=0 OMPI_COMM_WORLD_SIZE=4 \
  "$exe" run "$plan" --backend cuda --out "$work/rank-{rank}.json" --nccl-id-file "$work/nccl-id"
expect "bench-attention: no device" 3 '^kvr-exec: no-cuda-device: ' "$exe" bench-attention --chunk 64 --prefix 64
expect "run on the cpu backend" 0 '"schema":"kvr-exec/measurement@1"' "$exe" run "$plan" --backend cpu --warmup 0 --repeats 1
expect "attention-check on the cpu" 0 '"fault":"none".*"pass":true' "$exe" attention-check --chunk 64 --prefix 128 --heads 2
# The flash kernel's tile loop emulated on the CPU for every tiling (kvr/flash_tiling.hpp): the chunk
# ends inside a block, the prefix puts a warp's last row on a tile start; GQA and MQA.
expect "flash tile loop: every tiling, GQA" 0 'flash-tiling-check@1","pass":true' "$exe" attention-check --tiling all \
  --chunk 200 --prefix 129 --heads 4 --kv-heads 2
expect "flash tile loop: every tiling, MQA" 0 'flash-tiling-check@1","pass":true' "$exe" attention-check --tiling all \
  --chunk 300 --prefix 1 --heads 3 --kv-heads 1 --head-dim 64
expect "flash tile loop: a slip is caught" 0 'flash-tiling-check@1","pass":false' "$exe" attention-check --tiling all \
  --chunk 200 --prefix 129 --heads 2 --head-dim 64 --tiling-fault skip-diagonal
expect "bad argument: one line, exit 2" 2 '^kvr-exec: invalid-argument: ' "$exe" run "$plan" --backend tpu

if [[ $failed -ne 0 ]]; then
  echo "check-host: the stub-linked kvr-exec misbehaved" >&2
  exit 1
fi
echo "check-host: CUDA host code compiled and linked against native/stubs; kvr-exec degrades cleanly ($(($(date +%s) - started)) s)"
