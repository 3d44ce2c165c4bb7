// What this build and machine offer on the CUDA side (kvr/cuda_api.hpp), for `devices`.
#include <string>

#include <cuda_runtime.h>

#include "check.hpp"
#include "kvr/cuda_api.hpp"
#include "library_check.hpp"

namespace kvr {
namespace {

// 12040 -> "12.4"
std::string version_string(int version) {
  return std::to_string(version / 1000) + "." + std::to_string((version % 1000) / 10);
}

}  // namespace

bool built_with_cuda() { return true; }

bool built_with_nccl() {
#if defined(KVR_WITH_NCCL)
  return true;
#else
  return false;
#endif
}

std::string make_nccl_unique_id() {
#if defined(KVR_WITH_NCCL)
  ncclUniqueId id;
  KVR_NCCL_CHECK(ncclGetUniqueId(&id));
  return std::string(id.internal, sizeof id.internal);
#else
  KVR_FAIL(ErrorCode::NcclUnavailable,
           "one process per GPU needs NCCL, and this build has none (nccl.h and libnccl were not found when it was "
           "configured)");
#endif
}

json::Value describe_cuda() {
  json::Value out;
  out.set("cuda_version", version_string(CUDART_VERSION));  // the toolkit this build used
#if defined(KVR_STUB_CUBLAS)
  // native/scripts/build-plain.sh --stubs: a compile-and-link check, not a usable build.
  out.set("stub_libraries", std::string("cuBLAS, cuBLASLt and NCCL are native/stubs (compile check only)"));
#endif
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess || count == 0) {
    (void)cudaGetLastError();
    out.set("error", std::string("no CUDA device: ") +
                         (status != cudaSuccess ? cudaGetErrorString(status) : "cudaGetDeviceCount found none"));
    return out;
  }
  int runtime = 0;
  int driver = 0;
  KVR_CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
  KVR_CUDA_CHECK(cudaDriverGetVersion(&driver));
  out.set("runtime_version", version_string(runtime));
  out.set("driver_version", version_string(driver));
  json::Value devices;
  devices.array();
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    KVR_CUDA_CHECK(cudaGetDeviceProperties(&prop, i));
    json::Value d;
    d.set("index", i);
    d.set("name", std::string(prop.name));
    d.set("memory_bytes", static_cast<uint64_t>(prop.totalGlobalMem));
    d.set("sms", prop.multiProcessorCount);
    d.set("compute_capability", std::to_string(prop.major) + "." + std::to_string(prop.minor));
    devices.push(d);
  }
  out.set("devices", devices);
  return out;
}

}  // namespace kvr
