// Flash attention kernels: the tilings compiled in and their launcher (device body in
// attention_flash.cuh).
#include <string>

#include "attention.hpp"
#include "attention_flash.cuh"
#include "check.hpp"

namespace kvr::cuda {
namespace {

// kMinBlocks per SM: 4-warp blocks ask for two (<= 255 registers per thread, 2 x 102 KB of shared
// memory at hd = 128 fits the 227 KB of an H100 SM), 8-warp blocks for one. 128-key tiles at
// hd = 128 need 170 KB: more than an A100 block may have (163 KB), so the launcher checks.
template <int kHeadDim, int kWarps, int kMTiles, int kKeys, int kMinBlocks, int kQKUnroll, bool kQInRegisters>
__global__ void __launch_bounds__(kWarps * 32, kMinBlocks) attention_flash_kernel(const AttentionParams p) {
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  // Causal blocks get more work the later their rows: launch the heaviest first so the last wave
  // is made of short blocks.
  const int block_row = p.causal ? static_cast<int>(gridDim.x - 1 - blockIdx.x) : static_cast<int>(blockIdx.x);
  flash::attention_block<kHeadDim, kWarps, kMTiles, kKeys, kQKUnroll, kQInRegisters>(
      p, reinterpret_cast<__half*>(shared_bytes), block_row, static_cast<int>(blockIdx.y));
}

template <int kHeadDim, int kWarps, int kMTiles, int kKeys, int kMinBlocks, int kQKUnroll = kHeadDim / 16,
          bool kQInRegisters = false>
void launch(const AttentionParams& p, cudaStream_t stream) {
  using Config = flash::Config<kHeadDim, kWarps, kMTiles, kKeys>;
  const auto kernel = attention_flash_kernel<kHeadDim, kWarps, kMTiles, kKeys, kMinBlocks, kQKUnroll, kQInRegisters>;
  int device = 0;
  int shared_limit = 0;
  KVR_CUDA_CHECK(cudaGetDevice(&device));
  KVR_CUDA_CHECK(cudaDeviceGetAttribute(&shared_limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  KVR_CHECK(Config::kSharedBytes <= shared_limit, ErrorCode::InvalidArgument,
            "attention: this flash tiling needs " + std::to_string(Config::kSharedBytes) +
                " bytes of shared memory per block, the device allows " + std::to_string(shared_limit) +
                " (pick another with KVR_CUDA_ATTENTION)");
  KVR_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Config::kSharedBytes));
  KVR_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                                      static_cast<int>(cudaSharedmemCarveoutMaxShared)));
  const dim3 grid(static_cast<unsigned>((p.tokens + Config::kBlockM - 1) / Config::kBlockM),
                  static_cast<unsigned>(p.heads));
  kernel<<<grid, Config::kThreads, Config::kSharedBytes, stream>>>(p);
  KVR_CUDA_CHECK_LAUNCH("attention_flash_kernel");
}

// Tiling kIndex of kFlashTilings (kvr/flash_tiling.hpp), which lists them in AttentionKernel order.
template <int kHeadDim, int kIndex>
void launch_tiling(const AttentionParams& p, cudaStream_t stream) {
  constexpr FlashTiling t = kFlashTilings[kIndex];
  launch<kHeadDim, t.warps, t.m_tiles, t.keys, t.min_blocks, t.qk_rolled ? 1 : kHeadDim / 16, t.q_in_registers>(p, stream);
}

template <int kHeadDim, int kIndex>
constexpr int tiling_shared_bytes() {
  constexpr FlashTiling t = kFlashTilings[kIndex];
  return flash::Config<kHeadDim, t.warps, t.m_tiles, t.keys>::kSharedBytes;
}

static_assert(kFlashTilingCount == 7 && static_cast<int>(AttentionKernel::kSimple) == kFlashTilingCount,
              "kFlashTilings lists every flash AttentionKernel, in order (update the switches below)");

template <int kHeadDim>
void launch_head_dim(AttentionKernel kernel, const AttentionParams& p, cudaStream_t stream) {
  switch (static_cast<int>(kernel)) {
    case 0: return launch_tiling<kHeadDim, 0>(p, stream);
    case 1: return launch_tiling<kHeadDim, 1>(p, stream);
    case 2: return launch_tiling<kHeadDim, 2>(p, stream);
    case 3: return launch_tiling<kHeadDim, 3>(p, stream);
    case 4: return launch_tiling<kHeadDim, 4>(p, stream);
    case 5: return launch_tiling<kHeadDim, 5>(p, stream);
    case 6: return launch_tiling<kHeadDim, 6>(p, stream);
    default: break;
  }
  KVR_FAIL(ErrorCode::Internal, std::string("not a flash attention kernel: ") + attention_kernel_name(kernel));
}

template <int kHeadDim>
int shared_bytes(AttentionKernel kernel) {
  switch (static_cast<int>(kernel)) {
    case 0: return tiling_shared_bytes<kHeadDim, 0>();
    case 1: return tiling_shared_bytes<kHeadDim, 1>();
    case 2: return tiling_shared_bytes<kHeadDim, 2>();
    case 3: return tiling_shared_bytes<kHeadDim, 3>();
    case 4: return tiling_shared_bytes<kHeadDim, 4>();
    case 5: return tiling_shared_bytes<kHeadDim, 5>();
    case 6: return tiling_shared_bytes<kHeadDim, 6>();
    default: break;
  }
  return 0;
}

}  // namespace

bool flash_attention_supports(int head_dim) { return head_dim == 64 || head_dim == 128; }

int flash_attention_shared_bytes(AttentionKernel kernel, int head_dim) {
  if (head_dim == 64) return shared_bytes<64>(kernel);
  if (head_dim == 128) return shared_bytes<128>(kernel);
  return 0;
}

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
