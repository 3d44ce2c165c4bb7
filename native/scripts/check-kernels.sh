#!/usr/bin/env bash
# Compile-checks every CUDA kernel file (native/src/cuda/*.cu) for sm_80 and sm_90 with nvcc,
# warnings as errors, without cuBLAS, NCCL or a GPU: what CI and GPU-less machines can verify.
# Prints one line per file (with the flash kernel's registers and spills for sm_90) and exits
# non-zero if any file fails. Usage: native/scripts/check-kernels.sh [NVCC]
# KVR_KERNEL_OBJECTS=DIR keeps the objects there (<name>.sm_80.o, <name>.sm_90.o), for
# check-host.sh --kernel-objects DIR, so CI compiles each kernel once.
set -uo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
nvcc="${1:-${NVCC:-}}"
if [[ -z "$nvcc" ]]; then
  if command -v nvcc >/dev/null 2>&1; then
    nvcc="$(command -v nvcc)"
  elif [[ -x /usr/local/cuda/bin/nvcc ]]; then
    nvcc=/usr/local/cuda/bin/nvcc
  else
    echo "check-kernels: nvcc not found (put it on PATH, set NVCC, or pass it as the first argument)" >&2
    exit 2
  fi
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

shopt -s nullglob
files=("$root"/native/src/cuda/*.cu)
if [[ ${#files[@]} -eq 0 ]]; then
  echo "check-kernels: no .cu files under native/src/cuda" >&2
  exit 2
fi

failed=0
for file in "${files[@]}"; do
  name="$(basename "$file")"
  status="ok"
  detail=""
  for arch in 80 90; do
    log="$work/${name%.cu}.sm_$arch.log"
    if ! "$nvcc" -std=c++17 -c -arch="sm_$arch" -O3 --use_fast_math -Werror all-warnings \
        -Xcompiler -Wall,-Wextra,-Werror -Xptxas -v \
        -I"$root/native/include" -DKVR_WITH_CUDA=1 \
        "$file" -o "$work/${name%.cu}.sm_$arch.o" >"$log" 2>&1; then
      status="FAILED (sm_$arch)"
      failed=1
      sed 's/^/    /' "$log" | grep -v 'ptxas info' | head -40
      break
    fi
    if [[ $arch == 90 ]]; then
      # e.g. "max 255 registers, 32 bytes spilled" over the file's kernels
      regs="$(grep -o 'Used [0-9]* registers' "$log" | awk '{print $2}' | sort -n | tail -1)"
      spill="$(grep -o '[0-9]* bytes spill stores' "$log" | awk '{print $1}' | sort -n | tail -1)"
      detail="sm_90: max ${regs:-0} registers/thread, max ${spill:-0} bytes spilled"
    fi
  done
  printf '%-28s %s%s\n' "$name" "$status" "${detail:+  ($detail)}"
done

if [[ -n "${KVR_KERNEL_OBJECTS:-}" && $failed -eq 0 ]]; then
  mkdir -p "$KVR_KERNEL_OBJECTS" && cp "$work"/*.o "$KVR_KERNEL_OBJECTS"/
fi
if [[ $failed -ne 0 ]]; then
  echo "check-kernels: some kernels failed to compile" >&2
  exit 1
fi
echo "check-kernels: ${#files[@]} files compiled for sm_80 and sm_90"
