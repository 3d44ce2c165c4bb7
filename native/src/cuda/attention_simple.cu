// The simple attention kernel: one warp per (query, head) walks the keys one by one with an online
// softmax in fp32; lanes split the head dimension. Slow (no data reuse across queries: every warp
// streams the whole K,V span) but short enough to be obviously right: it is the fallback for head
// sizes the flash kernel lacks and the cross-check of KVR_CUDA_ATTENTION=simple.
#include <string>

#include "attention.hpp"
#include "check.hpp"

namespace kvr::cuda {
namespace {

constexpr int kWarpsPerBlock = 4;

template <int kPerLane>  // head_dim <= 32 * kPerLane
__global__ void __launch_bounds__(kWarpsPerBlock * 32) attention_simple_kernel(const AttentionParams p) {
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const int64_t pair = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  if (pair >= p.tokens * p.heads) return;
  const int64_t row = pair / p.heads;
  const int head = static_cast<int>(pair % p.heads);
  const int64_t t = p.prefix + row;
  const int kv_head = head / (p.heads / p.kv_heads);
  const int64_t cache_stride = 2LL * p.kv_heads * p.head_dim;
  const __half* k_base = p.cache + static_cast<int64_t>(kv_head) * p.head_dim;
  const __half* v_base = k_base + static_cast<int64_t>(p.kv_heads) * p.head_dim;
  const __half* q = p.q + row * p.q_stride + static_cast<int64_t>(head) * p.head_dim;

  float qv[kPerLane];
  float o[kPerLane];
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    const int d = lane + 32 * i;
    qv[i] = d < p.head_dim ? __half2float(q[d]) : 0.f;
    o[i] = 0.f;
  }
  float running_max = -INFINITY;
  float running_sum = 0.f;
  // Causal: keys [0, t]. Dense-masked: every key of [0, keys), masking s > t.
  const int64_t end = p.causal ? t + 1 : p.keys;
  for (int64_t s = 0; s < end; ++s) {
    if (s > t) continue;  // the mask (dense mode only)
    const __half* k = k_base + s * cache_stride;
    const __half* v = v_base + s * cache_stride;
    float dot = 0.f;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      const int d = lane + 32 * i;
      if (d < p.head_dim) dot += qv[i] * __half2float(k[d]);
    }
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) dot += __shfl_xor_sync(0xffffffffu, dot, offset);
    const float score = dot * p.softmax_scale;
    const float new_max = fmaxf(running_max, score);
    const float correction = expf(running_max - new_max);
    const float prob = expf(score - new_max);
    running_sum = running_sum * correction + prob;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      const int d = lane + 32 * i;
      o[i] = o[i] * correction + (d < p.head_dim ? prob * __half2float(v[d]) : 0.f);
    }
    running_max = new_max;
  }
  __half* out = p.out + row * p.out_stride + static_cast<int64_t>(head) * p.head_dim;
  const float inverse = 1.f / running_sum;
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    const int d = lane + 32 * i;
    if (d < p.head_dim) out[d] = __float2half_rn(o[i] * inverse);
  }
}

template <int kPerLane>
void launch(const AttentionParams& p, cudaStream_t stream) {
  const int64_t pairs = p.tokens * p.heads;
  const dim3 grid(static_cast<unsigned>((pairs + kWarpsPerBlock - 1) / kWarpsPerBlock));
  attention_simple_kernel<kPerLane><<<grid, kWarpsPerBlock * 32, 0, stream>>>(p);
  KVR_CUDA_CHECK_LAUNCH("attention_simple_kernel");
}

}  // namespace

void launch_attention_simple(const AttentionParams& p, cudaStream_t stream) {
  KVR_CHECK(p.head_dim > 0 && p.head_dim <= 256, ErrorCode::Internal,
            "simple attention supports head_dim up to 256, not " + std::to_string(p.head_dim));
  KVR_CHECK(p.heads > 0 && p.kv_heads > 0 && p.heads % p.kv_heads == 0, ErrorCode::Internal,
            "attention: heads must be a positive multiple of kv_heads");
  if (p.tokens <= 0) return;
  if (p.head_dim <= 32) {
    launch<1>(p, stream);
  } else if (p.head_dim <= 64) {
    launch<2>(p, stream);
  } else if (p.head_dim <= 128) {
    launch<4>(p, stream);
  } else {
    launch<8>(p, stream);
  }
}

}  // namespace kvr::cuda
