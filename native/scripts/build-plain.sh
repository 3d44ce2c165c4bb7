#!/usr/bin/env bash
# Builds kvr-exec with the CUDA backend using nvcc and g++ directly, without cmake:
#   native/scripts/build-plain.sh --out DIR [--arch N] [--stubs] [--no-nccl] [--jobs N] [-O LEVEL]
#                                 [--werror] [--kernel-objects DIR]
# Two uses:
# - the last fallback of gpu-run.sh's build step on a GPU host (after cmake + ninja and cmake +
#   Makefiles): real cuBLAS and cuBLASLt from $CUDA_HOME, NCCL when nccl.h and libnccl are found;
# - CI's compile-and-link check of the CUDA backend's host code (--stubs): native/stubs/include
#   stands in for cuBLAS, cuBLASLt and NCCL headers, native/stubs/stubs.cpp for their libraries, so
#   native/src/cuda/*.cpp, native/cli/kvr_exec.cpp and the kernels (native/src/cuda/*.cu) compile
#   and link into a kvr-exec that runs here and stops at "no CUDA device". The CUDA runtime and
#   driver headers (cuda_runtime.h, cuda.h, cudaTypedefs.h) are the toolkit's own: nvcc brings them,
#   and the driver API is reached at run time through cudaGetDriverEntryPointByVersion, so nothing
#   links libcuda.
# Writes DIR/kvr-exec, DIR/obj/*.o (and DIR/libkvr_stubs.so with --stubs); compiler output goes to
# stderr. --kernel-objects DIR reuses DIR/<name>.sm_<arch>.o left there by check-kernels.sh when it
# is newer than its .cu file (CI compiles each kernel once). Defaults: --arch from nvidia-smi (else
# 90), --jobs nproc, -O 2 (3 for kernels). Exit 0 built, 1 a compile or link error, 2 bad usage or
# a missing tool.
set -uo pipefail

usage() {
  echo "usage: $0 --out DIR [--arch N] [--stubs] [--no-nccl] [--jobs N] [-O LEVEL] [--werror] [--kernel-objects DIR]" >&2
  exit 2
}
fail() {
  echo "build-plain: $*" >&2
  exit 2
}

root="$(cd "$(dirname "$0")/../.." && pwd)"
out="" arch="" stubs=0 nccl=auto jobs="" opt=2 werror=0 kernel_objects=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) [[ $# -ge 2 ]] || usage; out="$2"; shift 2 ;;
    --arch) [[ $# -ge 2 ]] || usage; arch="$2"; shift 2 ;;
    --stubs) stubs=1; shift ;;
    --no-nccl) nccl=off; shift ;;
    --jobs) [[ $# -ge 2 ]] || usage; jobs="$2"; shift 2 ;;
    -O) [[ $# -ge 2 ]] || usage; opt="$2"; shift 2 ;;
    --werror) werror=1; shift ;;
    --kernel-objects) [[ $# -ge 2 ]] || usage; kernel_objects="$2"; shift 2 ;;
    -h | --help) usage ;;
    *) fail "unknown argument $1 (see --help)" ;;
  esac
done
[[ -n "$out" ]] || usage
[[ -z "$arch" || "$arch" =~ ^[0-9]+a?$ ]] || fail "--arch expects a compute capability such as 90, not '$arch'"
[[ -z "$jobs" || "$jobs" =~ ^[1-9][0-9]*$ ]] || fail "--jobs expects a positive number, not '$jobs'"
[[ "$opt" =~ ^[0-3]$ ]] || fail "-O expects 0, 1, 2 or 3, not '$opt'"

# The toolkit: CUDA_HOME, else the one holding the nvcc on PATH (/usr/local/bin/nvcc may be a
# wrapper script), else /usr/local/cuda.
cuda_home="${CUDA_HOME:-}"
if [[ -z "$cuda_home" ]]; then
  cuda_home=/usr/local/cuda
  if command -v nvcc >/dev/null 2>&1; then
    candidate="$(cd "$(dirname "$(readlink -f "$(command -v nvcc)")")/.." && pwd)"
    [[ -f "$candidate/include/cuda_runtime.h" ]] && cuda_home="$candidate"
  fi
fi
nvcc="$cuda_home/bin/nvcc"
[[ -x "$nvcc" ]] || nvcc="$(command -v nvcc || true)"
[[ -n "$nvcc" && -x "$nvcc" ]] || fail "nvcc not found (set CUDA_HOME or put nvcc on PATH)"
cxx="${CXX:-g++}"
command -v "$cxx" >/dev/null 2>&1 || fail "C++ compiler $cxx not found (set CXX)"
[[ -f "$cuda_home/include/cuda_runtime.h" ]] || fail "$cuda_home/include/cuda_runtime.h not found (set CUDA_HOME)"
cuda_lib="$cuda_home/lib64"
[[ -d "$cuda_lib" ]] || cuda_lib="$cuda_home/targets/x86_64-linux/lib"

if [[ -z "$arch" ]]; then
  arch="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 | tr -d ' .')"
  [[ "$arch" =~ ^[0-9]+$ ]] || arch=90
fi
[[ -n "$jobs" ]] || jobs="$(nproc 2>/dev/null || echo 2)"

includes=(-I"$root/native/include" -I"$cuda_home/include")
defines=(-DKVR_WITH_CUDA=1)
libs=()
if [[ $stubs -eq 1 ]]; then
  includes=(-I"$root/native/stubs/include" "${includes[@]}")
  [[ $nccl == off ]] || defines+=(-DKVR_WITH_NCCL=1)
else
  [[ -f "$cuda_home/include/cublas_v2.h" ]] || fail "no cuBLAS ($cuda_home/include/cublas_v2.h); use --stubs for a compile-only check"
  libs+=(-L"$cuda_lib" -lcublas -lcublasLt)
  if [[ $nccl != off ]]; then
    nccl_h="$(ls "${NCCL_HOME:-/nonexistent}/include/nccl.h" /usr/include/nccl.h /usr/local/include/nccl.h 2>/dev/null | head -n 1)"
    if [[ -n "$nccl_h" ]]; then
      includes+=(-I"$(dirname "$nccl_h")")
      defines+=(-DKVR_WITH_NCCL=1)
      [[ -n "${NCCL_HOME:-}" ]] && libs+=(-L"$NCCL_HOME/lib")
      libs+=(-lnccl)
    else
      echo "build-plain: nccl.h not found: building without the NCCL transport" >&2
    fi
  fi
fi

mkdir -p "$out/obj" || fail "cannot create $out/obj"
out="$(cd "$out" && pwd)"
warn=(-Wall -Wextra)
[[ $werror -eq 1 ]] && warn+=(-Werror)
cxxflags=(-std=c++17 -O"$opt" -fPIC -pthread "${warn[@]}" "${includes[@]}" "${defines[@]}")
nvccflags=(-std=c++17 -O3 --use_fast_math -lineinfo -arch="sm_$arch" -Xcompiler -fPIC "${includes[@]}" "${defines[@]}")
[[ $werror -eq 1 ]] && nvccflags+=(-Werror all-warnings -Xcompiler -Wall,-Wextra,-Werror)

shopt -s nullglob
cpp_sources=("$root"/native/src/core/*.cpp "$root"/native/src/cpu/*.cpp "$root"/native/src/cuda/*.cpp
  "$root"/native/cli/kvr_exec.cpp)
cu_sources=("$root"/native/src/cuda/*.cu)
[[ ${#cu_sources[@]} -gt 0 ]] || fail "no .cu files under native/src/cuda"

# One object per source, named after its folder so core/x.cpp and cpu/x.cpp cannot collide.
object_of() {
  local rel="${1#"$root"/native/}"
  echo "$out/obj/$(echo "${rel%.*}" | tr '/' '_').o"
}

echo "build-plain: kvr-exec for sm_$arch with $(basename "$cxx") and $nvcc, ${jobs} jobs$([[ $stubs -eq 1 ]] && echo ", stub cuBLAS/NCCL")" >&2
errors="$out/obj/errors"
: >"$errors"
running=0
compile() {  # compile KIND SRC OBJ: in the background, at most $jobs at once
  local kind="$1" src="$2" obj="$3"
  if [[ $running -ge $jobs ]]; then
    wait -n
    running=$((running - 1))
  fi
  (
    if [[ $kind == cu ]]; then
      "$nvcc" "${nvccflags[@]}" -c "$src" -o "$obj"
    else
      "$cxx" "${cxxflags[@]}" -c "$src" -o "$obj"
    fi || echo "${src#"$root"/}" >>"$errors"
  ) &
  running=$((running + 1))
}

objects=()
for src in "${cu_sources[@]}"; do
  obj="$(object_of "$src")"
  objects+=("$obj")
  reuse="$kernel_objects/$(basename "${src%.cu}").sm_$arch.o"
  if [[ -n "$kernel_objects" && -f "$reuse" && "$reuse" -nt "$src" ]]; then
    cp "$reuse" "$obj"
  else
    compile cu "$src" "$obj"
  fi
done
for src in "${cpp_sources[@]}"; do
  obj="$(object_of "$src")"
  objects+=("$obj")
  compile cpp "$src" "$obj"
done
wait

if [[ -s "$errors" ]]; then
  echo "build-plain: $(wc -l <"$errors") file(s) failed to compile: $(tr '\n' ' ' <"$errors")" >&2
  exit 1
fi

if [[ $stubs -eq 1 ]]; then
  "$cxx" -std=c++17 -O1 -fPIC -shared "${warn[@]}" "${includes[@]}" "$root/native/stubs/stubs.cpp" \
    -o "$out/libkvr_stubs.so" || { echo "build-plain: the stub library failed to compile" >&2; exit 1; }
  libs+=(-L"$out" -lkvr_stubs -Wl,-rpath,"$out")
fi
if ! "$cxx" -pthread "${objects[@]}" -o "$out/kvr-exec" "${libs[@]}" -L"$cuda_lib" -lcudart \
    -Wl,-rpath,"$cuda_lib" -ldl -lrt; then
  echo "build-plain: linking kvr-exec failed" >&2
  exit 1
fi
echo "build-plain: built $out/kvr-exec" >&2
