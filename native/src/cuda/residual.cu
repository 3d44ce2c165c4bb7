// Residual adds (MODEL.md "o op" / "mlp op"): h += a, or h += a + m for a parallel block, in fp32.
#include "check.hpp"
#include "elementwise.hpp"

namespace kvr::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads) residual_kernel(const ResidualParams p) {
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x; idx < p.count;
       idx += static_cast<int64_t>(gridDim.x) * kThreads) {
    float sum = __half2float(p.h[idx]) + __half2float(p.a[idx]);
    if (p.m != nullptr) sum += __half2float(p.m[idx]);
    p.h[idx] = __float2half_rn(sum);
  }
}

}  // namespace

void launch_residual(const ResidualParams& p, cudaStream_t stream) {
  if (p.count <= 0) return;
  const int64_t blocks = (p.count + kThreads - 1) / kThreads;
  residual_kernel<<<static_cast<unsigned>(blocks < 65536 * 8 ? blocks : 65536 * 8), kThreads, 0, stream>>>(p);
  KVR_CUDA_CHECK_LAUNCH("residual_kernel");
}

}  // namespace kvr::cuda
