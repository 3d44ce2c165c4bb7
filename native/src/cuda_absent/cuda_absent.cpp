// The CUDA entry points of a build without the CUDA toolkit: they report, or throw, that CUDA is
// absent, so everything else (CPU backend, CLI, addon) builds and runs unchanged.
#include "kvr/cuda_api.hpp"
#include "kvr/error.hpp"

namespace kvr {

namespace {
constexpr const char* kWithoutCuda =
    "built without CUDA: this build has only the CPU backend (rebuild on a host with the CUDA toolkit and cuBLAS)";
}  // namespace

bool built_with_cuda() { return false; }

bool built_with_nccl() { return false; }

json::Value describe_cuda() {
  json::Value out;
  out.set("error", "built without CUDA");
  return out;
}

std::string make_nccl_unique_id() { KVR_FAIL(ErrorCode::BuiltWithoutCuda, kWithoutCuda); }

json::Value bench_attention(const AttentionBenchOptions& /*options*/) {
  KVR_FAIL(ErrorCode::BuiltWithoutCuda, kWithoutCuda);
}

std::unique_ptr<Backend> make_cuda_backend(const BackendOptions& /*options*/) {
  KVR_FAIL(ErrorCode::BuiltWithoutCuda, kWithoutCuda);
}

}  // namespace kvr
