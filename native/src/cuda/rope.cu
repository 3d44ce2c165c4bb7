// RoPE (rotate-half) on q and k of a chunk and the K,V cache write (MODEL.md "qkv op"): one block
// per token. The block first computes cos and sin of its position for every frequency in double
// precision (angles reach 10^5 rad at long contexts, beyond what fast fp32 sincos keeps), then
// rotates every q and k head with them in fp32 (two frequencies per thread, as half2 pairs, when
// head_dim is a multiple of 4).
#include "check.hpp"
#include "elementwise.hpp"

namespace kvr::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kMaxHalf = 256;  // head_dim <= 512

__global__ void __launch_bounds__(kThreads) rope_kernel(const RopeParams p) {
  __shared__ float cos_table[kMaxHalf];
  __shared__ float sin_table[kMaxHalf];
  const int64_t i = blockIdx.x;
  const int64_t position = p.first_position + i;
  const int half = p.head_dim / 2;
  const int tid = static_cast<int>(threadIdx.x);
  for (int f = tid; f < half; f += kThreads) {
    const double theta = pow(p.base, -2.0 * f / p.head_dim);
    double s, c;
    sincos(static_cast<double>(position) * theta, &s, &c);
    cos_table[f] = static_cast<float>(c);
    sin_table[f] = static_cast<float>(s);
  }
  __syncthreads();

  const int qk_heads = p.heads + p.kv_heads;
  __half* row = p.qkv + i * static_cast<int64_t>(qk_heads + p.kv_heads) * p.head_dim;
  __half* cache_row = p.cache + position * (2LL * p.kv_heads * p.head_dim);
  if (half % 2 == 0) {
    // Two frequencies per thread: half2 loads of (x[f], x[f + 1]) and (x[f + half], x[f + half + 1]).
    const int pairs = half / 2;
    for (int idx = tid; idx < qk_heads * pairs; idx += kThreads) {
      const int head = idx / pairs;
      const int f = 2 * (idx % pairs);
      __half* x = row + static_cast<int64_t>(head) * p.head_dim;
      const float2 a = __half22float2(*reinterpret_cast<const __half2*>(x + f));
      const float2 b = __half22float2(*reinterpret_cast<const __half2*>(x + f + half));
      const float c0 = cos_table[f], c1 = cos_table[f + 1];
      const float s0 = sin_table[f], s1 = sin_table[f + 1];
      const __half2 ra = __floats2half2_rn(a.x * c0 - b.x * s0, a.y * c1 - b.y * s1);
      const __half2 rb = __floats2half2_rn(b.x * c0 + a.x * s0, b.y * c1 + a.y * s1);
      __half* dst = head < p.heads ? x : cache_row + static_cast<int64_t>(head - p.heads) * p.head_dim;
      *reinterpret_cast<__half2*>(dst + f) = ra;
      *reinterpret_cast<__half2*>(dst + f + half) = rb;
    }
  } else {
    for (int idx = tid; idx < qk_heads * half; idx += kThreads) {
      const int head = idx / half;
      const int f = idx % half;
      __half* x = row + static_cast<int64_t>(head) * p.head_dim;
      const float a = __half2float(x[f]);
      const float b = __half2float(x[f + half]);
      const float c = cos_table[f];
      const float s = sin_table[f];
      __half* dst = head < p.heads ? x : cache_row + static_cast<int64_t>(head - p.heads) * p.head_dim;
      dst[f] = __float2half_rn(a * c - b * s);
      dst[f + half] = __float2half_rn(b * c + a * s);
    }
  }
  // V: copied as is after the K half of the cache row.
  const int v_count = p.kv_heads * p.head_dim;
  const __half* v = row + static_cast<int64_t>(qk_heads) * p.head_dim;
  __half* cache_v = cache_row + v_count;
  // head_dim is even, so rows of V are whole half2 pairs at 4-byte aligned offsets.
  for (int j = tid; j < v_count / 2; j += kThreads) {
    reinterpret_cast<__half2*>(cache_v)[j] = reinterpret_cast<const __half2*>(v)[j];
  }
}

}  // namespace

void launch_rope(const RopeParams& p, cudaStream_t stream) {
  KVR_CHECK(p.head_dim % 2 == 0 && p.head_dim / 2 <= kMaxHalf, ErrorCode::Internal,
            "rope: head_dim must be even and at most 512");
  if (p.tokens <= 0) return;
  rope_kernel<<<static_cast<unsigned>(p.tokens), kThreads, 0, stream>>>(p);
  KVR_CUDA_CHECK_LAUNCH("rope_kernel");
}

}  // namespace kvr::cuda
