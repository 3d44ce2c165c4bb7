#include "kvr/devices.hpp"

#include <thread>

#include "kvr/cuda_api.hpp"
#include "kvr/error.hpp"

namespace kvr {

json::Value describe_devices() {
  // A broken driver must not hide what the build supports: report it under "cuda" instead.
  json::Value cuda;
  try {
    cuda = describe_cuda();
  } catch (const std::exception& e) {
    cuda.set("error", e.what());
  }

  json::Value build;
  build.set("cpu", true);
  build.set("cuda", built_with_cuda());
  build.set("cublas", built_with_cuda());  // the CUDA backend is only built together with cuBLAS
  build.set("nccl", built_with_nccl());
  const json::Value* version = cuda.find("cuda_version");
  build.set("cuda_version", version != nullptr && version->is_string() ? *version : json::Value());

  json::Value cpu;
  const unsigned threads = std::thread::hardware_concurrency();
  cpu.set("threads", threads == 0 ? json::Value() : json::Value(static_cast<int64_t>(threads)));

  json::Value out;
  out.set("build", std::move(build));
  out.set("cpu", std::move(cpu));
  out.set("cuda", std::move(cuda));
  return out;
}

}  // namespace kvr
