// What this build and this machine support, for `kvr devices` and `kvr-exec devices`.
#pragma once

#include "kvr/json.hpp"

namespace kvr {

// { "build": { "cpu": true, "cuda": bool, "cublas": bool, "nccl": bool, "cuda_version": string|null },
//   "cpu": { "threads": n },
//   "cuda": { "devices": [{ "index", "name", "memory_bytes", "sms", "compute_capability" }] }
//          or { "error": "built without CUDA" | "no CUDA device: ..." } }
json::Value describe_devices();

}  // namespace kvr
