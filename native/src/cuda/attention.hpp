// Attention of one layer for a chunk of queries over the K,V cache (MODEL.md, "attn op"):
// out[t, j] = softmax_s(q[t, j] . k[s, j / g] / sqrt(hd)) . v[s, j / g] over keys s <= t, in fp32
// with fp16 inputs and outputs. Two kernels compute it:
//  - flash (attention_flash.cu): tensor-core MMA, online softmax, K/V tiles double-buffered in
//    shared memory; head_dim 64 and 128.
//  - simple (attention_simple.cu): one warp per (query, head), fp32 throughout; any head_dim up to
//    256. The fallback for other head sizes and a cross-check (KVR_CUDA_ATTENTION=simple).
// attention.cu picks one (choose_attention_kernel) and dispatches (launch_attention).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace kvr::cuda {

struct AttentionParams {
  const __half* q = nullptr;   // query j of chunk token i at q + i * q_stride + j * head_dim
  int64_t q_stride = 0;        // elements between consecutive tokens of q
  const __half* cache = nullptr;  // one layer of the K,V cache: [position][k|v][kv_head][head_dim],
                                  // positions from 0 (row stride 2 * kv_heads * head_dim)
  __half* out = nullptr;       // head j of chunk token i at out + i * out_stride + j * head_dim
  int64_t out_stride = 0;      // elements between consecutive tokens of out
  int64_t tokens = 0;          // c: queries, at positions [prefix, prefix + tokens)
  int64_t prefix = 0;          // P: position of the first query
  int64_t keys = 0;            // keys of the cache that may be read: [0, keys); >= prefix + tokens
  int heads = 0;               // h
  int kv_heads = 0;            // h_kv; query head j reads KV head j / (heads / kv_heads)
  int head_dim = 0;            // hd
  bool causal = true;          // true: visit keys [0, t] only, skipping tiles above the diagonal;
                               // false (dense-masked, TSP): visit all `keys`, mask s > t
  float softmax_scale = 0;     // 1 / sqrt(head_dim)
};

// The kernels. The flash tilings (query rows x keys per tile, warps per block) all compute the
// same thing with the same body (attention_flash.cuh); the first is the default, the others are
// there for bench-attention to compare (it times them all and reports the fastest that passes its
// check). The default has to compile without register spills for sm_80 and sm_90
// (scripts/check-kernels.sh fails otherwise).
enum class AttentionKernel {
  kFlashM128N64W8,  // "flash-128x64-w8": 8 warps x 16 rows, 1 block per SM (the default)
  kFlashM128N64W4,  // "flash-128x64-w4": 4 warps x 32 rows, 2 blocks per SM (spills at hd = 128)
  kFlashM128N64W4Rolled,  // "flash-128x64-w4-rolled": same, Q K^T k-step loop not unrolled (fewer live registers)
  kFlashM128N32W4,  // "flash-128x32-w4": same with 32-key tiles (fewer registers, more barriers)
  kFlashM256N64W8,  // "flash-256x64-w8": 8 warps x 32 rows, 1 block per SM
  kFlashM128N64W8Q,  // "flash-128x64-w8-qreg": 8 warps x 16 rows, Q fragments kept in registers
  kFlashM128N128W8,  // "flash-128x128-w8": 8 warps x 16 rows, 128-key tiles (170 KB of shared
                     // memory at hd = 128: Hopper only, skipped where it does not fit)
  kSimple,          // "simple": one warp per (query, head), any head_dim <= 256
};

const char* attention_kernel_name(AttentionKernel kernel);
std::string attention_kernel_description(AttentionKernel kernel);
// Every flash tiling, the default first.
const std::vector<AttentionKernel>& flash_attention_kernels();
bool flash_attention_supports(int head_dim);  // head_dim 64 and 128
// Dynamic shared memory a flash kernel needs at head_dim (0 for simple); a device whose opt-in
// limit (cudaDevAttrMaxSharedMemoryPerBlockOptin) is smaller cannot run it.
int flash_attention_shared_bytes(AttentionKernel kernel, int head_dim);

// The kernel for a head size: the default flash tiling when it supports head_dim, else simple.
// The environment variable KVR_CUDA_ATTENTION (a kernel name) overrides it; a flash name for an
// unsupported head_dim falls back to simple; an unknown name is InvalidArgument.
AttentionKernel choose_attention_kernel(int head_dim);

// Enqueues `kernel` on `stream`. Throws CudaError on a launch failure, Internal when a flash
// kernel is given an unsupported head_dim.
void launch_attention(AttentionKernel kernel, const AttentionParams& p, cudaStream_t stream);

// The individual families (launch_attention dispatches to them).
void launch_attention_flash(AttentionKernel kernel, const AttentionParams& p, cudaStream_t stream);
void launch_attention_simple(const AttentionParams& p, cudaStream_t stream);

}  // namespace kvr::cuda
