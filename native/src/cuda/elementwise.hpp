// The memory-bound kernels of a layer, around the GEMMs and attention: embedding gather, norms,
// RoPE with the K,V cache write, activations, residual adds, cache row copies and the seeded
// weight fill. Each is a plain parameter struct and a launcher that enqueues on a stream (and
// throws CudaError on a bad launch). Shapes and conventions are those of native/MODEL.md.
//
// Napkin math: at c = 32768 tokens of llama2-7b one norm moves 2 x 256 MB and SwiGLU 2.2 GB per
// layer; at ~3 TB/s that is ~0.2 ms and ~0.7 ms against ~40 ms of GEMMs per layer, so these
// kernels aim at plain coalesced 16-byte (or half2) accesses, not at fusion.
#pragma once

#include <cstdint>

#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace kvr::cuda {

// embed.cu: out[i] = table[token_id(seed, first_position + i, vocab)].
struct EmbedParams {
  const __half* table = nullptr;  // [vocab][dim] embedding rows
  __half* out = nullptr;          // [tokens][dim] hidden rows of the chunk
  int64_t tokens = 0;             // c
  int64_t first_position = 0;     // P: chunk token i is at position P + i
  int vocab = 0;                  // V
  int dim = 0;                    // d
  uint64_t seed = 0;              // token ids come from kvr::token_id(seed, position, vocab)
};
void launch_embed(const EmbedParams& p, cudaStream_t stream);

// norm.cu: RMSNorm x / sqrt(mean(x^2) + eps) * scale, or LayerNorm
// (x - mean) / sqrt(var + eps) * scale + bias (biased variance); statistics in fp32.
struct NormParams {
  const __half* in = nullptr;    // row r at in + r * in_stride, `dim` values
  int64_t in_stride = 0;         // elements between rows of in
  __half* out = nullptr;         // row r at out + r * out_stride
  int64_t out_stride = 0;        // elements between rows of out
  const float* scale = nullptr;  // [dim]
  const float* bias = nullptr;   // [dim], LayerNorm only (nullptr for RMSNorm)
  int64_t rows = 0;
  int dim = 0;
  bool layernorm = false;        // false: RMSNorm
  float eps = 1e-5f;
};
void launch_norm(const NormParams& p, cudaStream_t stream);

// rope.cu: rotate-half RoPE on the q and k heads of the qkv rows of a chunk (theta_i =
// base^(-2i/hd), angle = position * theta_i, pairs (i, i + hd/2)); q is rotated in place, the
// rotated k and the v of chunk token i go to cache row first_position + i.
struct RopeParams {
  __half* qkv = nullptr;       // [tokens][(heads + 2 kv_heads) head_dim]: q heads, k heads, v heads
  __half* cache = nullptr;     // one layer: [position][k|v][kv_head][head_dim], from position 0
  int64_t tokens = 0;          // c
  int64_t first_position = 0;  // P
  int heads = 0;               // h
  int kv_heads = 0;            // h_kv
  int head_dim = 0;            // hd, even, <= 512
  double base = 10000.0;       // RoPE base
};
void launch_rope(const RopeParams& p, cudaStream_t stream);

// activation.cu: SwiGLU out[r][j] = silu(in[r][j]) * in[r][ffn + j], silu(z) = z / (1 + e^-z).
struct SwigluParams {
  const __half* in = nullptr;  // [rows][2 ffn]: gate columns, then up columns
  __half* out = nullptr;       // [rows][ffn]
  int64_t rows = 0;
  int ffn = 0;                 // f
};
void launch_swiglu(const SwigluParams& p, cudaStream_t stream);

// activation.cu: exact GELU in place, x = 0.5 x (1 + erf(x / sqrt 2)).
struct GeluParams {
  __half* x = nullptr;  // `count` values
  int64_t count = 0;
};
void launch_gelu(const GeluParams& p, cudaStream_t stream);

// residual.cu: h += a (sequential block) or h += a + m (parallel block), summed in fp32.
struct ResidualParams {
  __half* h = nullptr;        // `count` values, updated in place
  const __half* a = nullptr;  // attention output
  const __half* m = nullptr;  // MLP output, or nullptr
  int64_t count = 0;
};
void launch_residual(const ResidualParams& p, cudaStream_t stream);

// copy_rows.cu: copies `count` contiguous fp16 values (cache rows of one layer, which are
// contiguous in [layer][position][k|v][kv_head][hd]) on one device.
struct CopyRowsParams {
  const __half* src = nullptr;
  __half* dst = nullptr;
  int64_t count = 0;
};
void launch_copy_rows(const CopyRowsParams& p, cudaStream_t stream);

// weight_init.cu: out[i] = offset + random_uniform(seed, tensor, i, scale) (weights.hpp), stored
// as fp16 or fp32.
struct WeightInitParams {
  void* out = nullptr;     // `count` values
  bool fp32 = false;       // false: __half
  int64_t count = 0;
  uint64_t seed = 0;
  uint64_t tensor = 0;     // kvr::TensorId or layer_tensor(...)
  float scale = 1.f;
  float offset = 0.f;      // 1 for norm scales, 0 otherwise
};
void launch_weight_init(const WeightInitParams& p, cudaStream_t stream);

}  // namespace kvr::cuda
