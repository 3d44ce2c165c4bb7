#!/usr/bin/env bash
# Compile-checks every CUDA kernel file (native/src/cuda/*.cu) for sm_80 and sm_90 with nvcc,
# warnings as errors, without cuBLAS, NCCL or a GPU: what CI and GPU-less machines can verify.
# Prints one line per file (max registers and spills for sm_90), then the registers and spill bytes
# of every flash attention tiling for sm_80 and sm_90 (from ptxas -v), and exits non-zero if any
# file fails to compile or if the default flash tiling (kFlashTilings[0] in
# native/include/kvr/flash_tiling.hpp, both head sizes) spills registers on either arch, or is not
# found in ptxas's output. Usage: native/scripts/check-kernels.sh [NVCC]
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

# The default tiling: the first entry of kFlashTilings, e.g. {"flash-128x64-w8", 8, 1, 64, 1, false, false}
# (name, warps, m-tiles, keys, min blocks, Q K^T rolled, Q in registers).
tilings_header="$root/native/include/kvr/flash_tiling.hpp"
default_entry="$(sed -n '/kFlashTilings\[\] = {/,/};/p' "$tilings_header" | grep -m1 -o '{"flash-[^}]*}')"
IFS=', ' read -r default_name d_warps d_mtiles d_keys d_min d_rolled d_qregs <<<"$(tr -d '{}"' <<<"$default_entry")"
if [[ -z "$default_name" || -z "$d_qregs" ]]; then
  echo "check-kernels: cannot read the default tiling from $tilings_header" >&2
  exit 2
fi
# Mangled template arguments of attention_flash_kernel<hd, warps, m-tiles, keys, min blocks, unroll, Q in registers>.
default_args() {  # HEAD_DIM
  local unroll=$(($1 / 16))
  [[ $d_rolled == true ]] && unroll=1
  echo "ILi$1ELi${d_warps}ELi${d_mtiles}ELi${d_keys}ELi${d_min}ELi${unroll}ELb$([[ $d_qregs == true ]] && echo 1 || echo 0)E"
}
# kernels LOG: one line per kernel of a ptxas -v log: "MANGLED REGISTERS SPILL_STORES SPILL_LOADS".
kernels() {
  awk '/Compiling entry function/ { name = $0; sub(/^[^\047]*\047/, "", name); sub(/\047.*$/, "", name); st = 0; ld = 0 }
       /bytes spill stores/ { for (i = 1; i + 3 <= NF; ++i) if ($(i + 1) == "bytes" && $(i + 2) == "spill") { if ($(i + 3) ~ /^stores/) st = $i; else ld = $i } }
       /Used [0-9]+ registers/ { if (name != "") { for (i = 1; i < NF; ++i) if ($i == "Used") r = $(i + 1); print name, r, st, ld; name = "" } }' "$1"
}

failed=0
flash_report=()
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
    if [[ $name == attention_flash.cu ]]; then
      # Every tiling: hd, warps, m-tiles, keys, min blocks, unroll, Q in registers -> registers, spills.
      while read -r mangled regs spill_st spill_ld; do
        args="$(grep -o 'attention_flash_kernelI\(L[ib][0-9]*E\)*' <<<"$mangled" | sed 's/attention_flash_kernelI//; s/L[ib]\([0-9]*\)E/\1,/g; s/,$//')"
        [[ -n "$args" ]] || continue
        flash_report+=("$(printf '  sm_%s <%s>: %s registers, %s B spill stores, %s B spill loads' "$arch" "$args" "$regs" "$spill_st" "$spill_ld")")
      done < <(kernels "$log")
      for hd in 64 128; do
        line="$(kernels "$log" | grep -F "attention_flash_kernel$(default_args "$hd")")"
        if [[ -z "$line" ]]; then
          status="FAILED (sm_$arch: the default tiling $default_name at hd $hd is not in ptxas's output)"
          failed=1
          continue
        fi
        read -r _ regs spill_st spill_ld <<<"$line"
        flash_report+=("$(printf '  default %s, hd %s, sm_%s: %s registers, %s B spill stores, %s B spill loads' "$default_name" "$hd" "$arch" "$regs" "$spill_st" "$spill_ld")")
        if [[ "$spill_st" != 0 || "$spill_ld" != 0 ]]; then
          status="FAILED (sm_$arch: the default tiling $default_name spills at hd $hd: $spill_st B stored, $spill_ld B loaded)"
          failed=1
        fi
      done
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
if [[ ${#flash_report[@]} -gt 0 ]]; then
  echo "flash attention tilings <head_dim,warps,m_tiles,keys,min_blocks,qk_unroll,q_in_registers>:"
  printf '%s\n' "${flash_report[@]}"
fi

if [[ -n "${KVR_KERNEL_OBJECTS:-}" && $failed -eq 0 ]]; then
  mkdir -p "$KVR_KERNEL_OBJECTS" && cp "$work"/*.o "$KVR_KERNEL_OBJECTS"/
fi
if [[ $failed -ne 0 ]]; then
  echo "check-kernels: some kernels failed to compile, or the default flash tiling spills registers" >&2
  exit 1
fi
echo "check-kernels: ${#files[@]} files compiled for sm_80 and sm_90; the default flash tiling ($default_name) does not spill"
