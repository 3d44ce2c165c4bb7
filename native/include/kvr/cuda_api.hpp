// Entry points of the CUDA side that the core calls without depending on CUDA headers. A build
// without CUDA links native/src/cuda_absent/cuda_absent.cpp, whose versions throw
// BuiltWithoutCuda (or report it, for describe_cuda).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "kvr/backend.hpp"
#include "kvr/json.hpp"

namespace kvr {

// True when this build has the CUDA backend.
bool built_with_cuda();
// True when this build has the NCCL transport.
bool built_with_nccl();

// A fresh ncclUniqueId (ncclGetUniqueId) as bytes, for rank 0 of a job of one process per GPU to
// publish (kvr/process_group.hpp). BuiltWithoutCuda / NcclUnavailable in builds without them.
std::string make_nccl_unique_id();

// "cuda" part of describe_devices(): { "devices": [...] } or { "error": "..." }.
json::Value describe_cuda();

// Micro-benchmark of the attention kernels for one shape, for gpu-check.sh and calibration:
// a chunk of `chunk` queries over `prefix` earlier keys plus its own causal block.
struct AttentionBenchOptions {
  int heads = 32;
  int kv_heads = 32;
  int head_dim = 128;
  int64_t chunk = 4096;
  int64_t prefix = 8192;
  bool causal = true;   // false: the dense-masked variant over all prefix + chunk keys
  int warmup = 3;
  int repeats = 10;
  uint64_t seed = 1234;
  bool check = true;    // compare a sample of rows against an fp32 reference on the host
};

// { "kernel", "heads", "kv_heads", "head_dim", "chunk", "prefix", "causal", "flops",
//   "median_s", "times_s": [...], "tflops", "max_rel_error" (when check) }
json::Value bench_attention(const AttentionBenchOptions& options);

}  // namespace kvr
