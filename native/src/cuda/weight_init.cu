// Seeded weights filled on the device (weights.hpp): the same counter-based random_uniform as
// the CPU reference, so no weights cross PCIe. 13.5 GB of llama2-7b fp16 at a few hundred GB/s of
// generator throughput is well under a second.
#include "check.hpp"
#include "elementwise.hpp"
#include "kvr/weights.hpp"

namespace kvr::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads) weight_init_kernel(const WeightInitParams p) {
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x; idx < p.count;
       idx += static_cast<int64_t>(gridDim.x) * kThreads) {
    const float value = p.offset + random_uniform(p.seed, p.tensor, static_cast<uint64_t>(idx), p.scale);
    if (p.fp32) {
      static_cast<float*>(p.out)[idx] = value;
    } else {
      static_cast<__half*>(p.out)[idx] = __float2half_rn(value);
    }
  }
}

}  // namespace

void launch_weight_init(const WeightInitParams& p, cudaStream_t stream) {
  if (p.count <= 0) return;
  const int64_t blocks = (p.count + kThreads - 1) / kThreads;
  weight_init_kernel<<<static_cast<unsigned>(blocks < 65536 * 8 ? blocks : 65536 * 8), kThreads, 0, stream>>>(p);
  KVR_CUDA_CHECK_LAUNCH("weight_init_kernel");
}

}  // namespace kvr::cuda
