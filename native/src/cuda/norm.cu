// RMSNorm and LayerNorm over rows (MODEL.md "norm"): one block per row, fp32 statistics; the
// LayerNorm variance is a second pass over (x - mean)^2 (no cancellation). Rows of even length
// (and even strides) are read as half2 pairs.
#include "check.hpp"
#include "elementwise.hpp"
#include "reduce.cuh"

namespace kvr::cuda {
namespace {

constexpr int kThreads = 256;

// kPairs: element j of the loops is a pair of values (2j, 2j + 1).
template <bool kPairs>
__device__ __forceinline__ float2 load(const __half* row, int j) {
  if constexpr (kPairs) {
    return __half22float2(reinterpret_cast<const __half2*>(row)[j]);
  } else {
    return make_float2(__half2float(row[j]), 0.f);
  }
}

template <bool kPairs>
__global__ void __launch_bounds__(kThreads) norm_kernel(const NormParams p) {
  __shared__ float scratch[32];
  const __half* in = p.in + static_cast<int64_t>(blockIdx.x) * p.in_stride;
  __half* out = p.out + static_cast<int64_t>(blockIdx.x) * p.out_stride;
  const int tid = static_cast<int>(threadIdx.x);
  const int n = kPairs ? p.dim / 2 : p.dim;

  float sum = 0.f;
  for (int j = tid; j < n; j += kThreads) {
    const float2 x = load<kPairs>(in, j);
    sum += p.layernorm ? x.x + x.y : x.x * x.x + x.y * x.y;
  }
  sum = block_sum(sum, scratch);
  float mean = 0.f;
  float inv_std;
  if (p.layernorm) {
    mean = sum / static_cast<float>(p.dim);
    float var = 0.f;
    for (int j = tid; j < n; j += kThreads) {
      const float2 x = load<kPairs>(in, j);
      const float a = x.x - mean;
      const float b = kPairs ? x.y - mean : 0.f;
      var += a * a + b * b;
    }
    var = block_sum(var, scratch);
    inv_std = rsqrtf(var / static_cast<float>(p.dim) + p.eps);
  } else {
    inv_std = rsqrtf(sum / static_cast<float>(p.dim) + p.eps);
  }
  for (int j = tid; j < n; j += kThreads) {
    const float2 x = load<kPairs>(in, j);
    if constexpr (kPairs) {
      float a = (x.x - mean) * inv_std * p.scale[2 * j];
      float b = (x.y - mean) * inv_std * p.scale[2 * j + 1];
      if (p.bias != nullptr) {
        a += p.bias[2 * j];
        b += p.bias[2 * j + 1];
      }
      reinterpret_cast<__half2*>(out)[j] = __floats2half2_rn(a, b);
    } else {
      float y = (x.x - mean) * inv_std * p.scale[j];
      if (p.bias != nullptr) y += p.bias[j];
      out[j] = __float2half_rn(y);
    }
  }
}

}  // namespace

void launch_norm(const NormParams& p, cudaStream_t stream) {
  KVR_CHECK(p.layernorm == (p.bias != nullptr), ErrorCode::Internal, "norm: LayerNorm needs a bias, RMSNorm none");
  if (p.rows <= 0) return;
  const bool pairs = p.dim % 2 == 0 && p.in_stride % 2 == 0 && p.out_stride % 2 == 0 &&
                     reinterpret_cast<uintptr_t>(p.in) % 4 == 0 && reinterpret_cast<uintptr_t>(p.out) % 4 == 0;
  if (pairs) {
    norm_kernel<true><<<static_cast<unsigned>(p.rows), kThreads, 0, stream>>>(p);
  } else {
    norm_kernel<false><<<static_cast<unsigned>(p.rows), kThreads, 0, stream>>>(p);
  }
  KVR_CUDA_CHECK_LAUNCH("norm_kernel");
}

}  // namespace kvr::cuda
