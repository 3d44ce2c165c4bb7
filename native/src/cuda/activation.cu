// MLP activations (MODEL.md "mlp op"): SwiGLU silu(gate) * up, and exact (erf) GELU in place.
// Math in fp32; pairs of values (half2) when the row length allows.
#include "check.hpp"
#include "elementwise.hpp"

namespace kvr::cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float silu(float z) { return z / (1.f + expf(-z)); }
__device__ __forceinline__ float gelu(float x) { return 0.5f * x * (1.f + erff(x * 0.70710678118654752f)); }

// Grid-stride over rows x (ffn / 2) pairs.
__global__ void __launch_bounds__(kThreads) swiglu_pairs_kernel(const SwigluParams p) {
  const int pairs = p.ffn / 2;
  const int64_t total = p.rows * pairs;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * kThreads) {
    const int64_t r = idx / pairs;
    const int j = static_cast<int>(idx % pairs);
    const __half2* in = reinterpret_cast<const __half2*>(p.in + r * 2 * p.ffn);
    const float2 gate = __half22float2(in[j]);
    const float2 up = __half22float2(in[pairs + j]);
    reinterpret_cast<__half2*>(p.out + r * p.ffn)[j] = __floats2half2_rn(silu(gate.x) * up.x, silu(gate.y) * up.y);
  }
}

__global__ void __launch_bounds__(kThreads) swiglu_kernel(const SwigluParams p) {
  const int64_t total = p.rows * p.ffn;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * kThreads) {
    const int64_t r = idx / p.ffn;
    const int j = static_cast<int>(idx % p.ffn);
    const __half* in = p.in + r * 2 * p.ffn;
    p.out[idx] = __float2half_rn(silu(__half2float(in[j])) * __half2float(in[p.ffn + j]));
  }
}

__global__ void __launch_bounds__(kThreads) gelu_kernel(const GeluParams p) {
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x; idx < p.count;
       idx += static_cast<int64_t>(gridDim.x) * kThreads) {
    p.x[idx] = __float2half_rn(gelu(__half2float(p.x[idx])));
  }
}

unsigned blocks_for(int64_t count) {
  const int64_t blocks = (count + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 65536 * 8 ? (blocks > 0 ? blocks : 1) : 65536 * 8);
}

}  // namespace

void launch_swiglu(const SwigluParams& p, cudaStream_t stream) {
  if (p.rows <= 0 || p.ffn <= 0) return;
  if (p.ffn % 2 == 0 && reinterpret_cast<uintptr_t>(p.in) % 4 == 0 && reinterpret_cast<uintptr_t>(p.out) % 4 == 0) {
    swiglu_pairs_kernel<<<blocks_for(p.rows * (p.ffn / 2)), kThreads, 0, stream>>>(p);
  } else {
    swiglu_kernel<<<blocks_for(p.rows * p.ffn), kThreads, 0, stream>>>(p);
  }
  KVR_CUDA_CHECK_LAUNCH("swiglu_kernel");
}

void launch_gelu(const GeluParams& p, cudaStream_t stream) {
  if (p.count <= 0) return;
  gelu_kernel<<<blocks_for(p.count), kThreads, 0, stream>>>(p);
  KVR_CUDA_CHECK_LAUNCH("gelu_kernel");
}

}  // namespace kvr::cuda
