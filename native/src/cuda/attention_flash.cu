// Flash attention kernels: the tilings compiled in and their launcher (device body in
// attention_flash.cuh).
#include <string>

#include "attention.hpp"
#include "attention_flash.cuh"
#include "check.hpp"

namespace kvr::cuda {
namespace {

// kMinBlocks per SM: 4-warp blocks ask for two (<= 255 registers per thread, 2 x 102 KB of shared
// memory at hd = 128 fits the 227 KB of an H100 SM), 8-warp blocks for one.
template <int kHeadDim, int kWarps, int kMTiles, int kKeys, int kMinBlocks, int kQKUnroll>
__global__ void __launch_bounds__(kWarps * 32, kMinBlocks) attention_flash_kernel(const AttentionParams p) {
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  // Causal blocks get more work the later their rows: launch the heaviest first so the last wave
  // is made of short blocks.
  const int block_row = p.causal ? static_cast<int>(gridDim.x - 1 - blockIdx.x) : static_cast<int>(blockIdx.x);
  flash::attention_block<kHeadDim, kWarps, kMTiles, kKeys, kQKUnroll>(p, reinterpret_cast<__half*>(shared_bytes),
                                                                       block_row, static_cast<int>(blockIdx.y));
}

template <int kHeadDim, int kWarps, int kMTiles, int kKeys, int kMinBlocks, int kQKUnroll = kHeadDim / 16>
void launch(const AttentionParams& p, cudaStream_t stream) {
  using Config = flash::Config<kHeadDim, kWarps, kMTiles, kKeys>;
  const auto kernel = attention_flash_kernel<kHeadDim, kWarps, kMTiles, kKeys, kMinBlocks, kQKUnroll>;
  KVR_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Config::kSharedBytes));
  KVR_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                                      static_cast<int>(cudaSharedmemCarveoutMaxShared)));
  const dim3 grid(static_cast<unsigned>((p.tokens + Config::kBlockM - 1) / Config::kBlockM),
                  static_cast<unsigned>(p.heads));
  kernel<<<grid, Config::kThreads, Config::kSharedBytes, stream>>>(p);
  KVR_CUDA_CHECK_LAUNCH("attention_flash_kernel");
}

template <int kHeadDim>
void launch_head_dim(AttentionKernel kernel, const AttentionParams& p, cudaStream_t stream) {
  switch (kernel) {
    case AttentionKernel::kFlashM128N64W4: return launch<kHeadDim, 4, 2, 64, 2>(p, stream);
    case AttentionKernel::kFlashM128N64W4Rolled: return launch<kHeadDim, 4, 2, 64, 2, 1>(p, stream);
    case AttentionKernel::kFlashM128N32W4: return launch<kHeadDim, 4, 2, 32, 2>(p, stream);
    case AttentionKernel::kFlashM256N64W8: return launch<kHeadDim, 8, 2, 64, 1>(p, stream);
    case AttentionKernel::kFlashM128N64W8: return launch<kHeadDim, 8, 1, 64, 1>(p, stream);
    case AttentionKernel::kSimple: break;
  }
  KVR_FAIL(ErrorCode::Internal, std::string("not a flash attention kernel: ") + attention_kernel_name(kernel));
}

}  // namespace

bool flash_attention_supports(int head_dim) { return head_dim == 64 || head_dim == 128; }

void launch_attention_flash(AttentionKernel kernel, const AttentionParams& p, cudaStream_t stream) {
  KVR_CHECK(flash_attention_supports(p.head_dim), ErrorCode::Internal,
            "flash attention has no kernel for head_dim " + std::to_string(p.head_dim));
  KVR_CHECK(p.heads > 0 && p.kv_heads > 0 && p.heads % p.kv_heads == 0, ErrorCode::Internal,
            "attention: heads must be a positive multiple of kv_heads");
  KVR_CHECK(p.keys >= p.prefix + p.tokens && p.keys < (int64_t{1} << 31) - 1024, ErrorCode::Internal,
            "attention: keys must cover the chunk and fit in int");
  if (p.tokens <= 0) return;
  if (p.head_dim == 64) {
    launch_head_dim<64>(kernel, p, stream);
  } else {
    launch_head_dim<128>(kernel, p, stream);
  }
}

}  // namespace kvr::cuda
