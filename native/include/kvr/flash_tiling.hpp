// The flash attention kernel's tilings and the index arithmetic of its tile loop, shared by the
// CUDA kernel (src/cuda/attention_flash.cuh, .cu) and a CPU emulation of that loop
// (flash_tiling_check in kvr/attention_check.hpp, `kvr-exec attention-check --tiling`), so the masking and tiling arithmetic
// of every variant is tested on machines without a GPU: the emulation visits the same blocks,
// warps, key tiles and masks with the same functions, and its output is compared with the
// reference of kvr/attention_check.hpp.
#pragma once


#if defined(__CUDACC__)
#define KVR_FLASH_HD __host__ __device__
#else
#define KVR_FLASH_HD
#endif

namespace kvr {

// One flash tiling: kWarps warps of kMTiles m16 tiles each (block_m = 16 warps m_tiles query rows)
// over key tiles of `keys` positions. min_blocks: __launch_bounds__ blocks per SM; qk_rolled: the
// Q K^T k-step loop is not unrolled; q_in_registers: Q fragments stay in registers across the key
// loop. The order is that of cuda::AttentionKernel (its first entries); the first is the default.
struct FlashTiling {
  const char* name;
  int warps;
  int m_tiles;
  int keys;
  int min_blocks;
  bool qk_rolled;
  bool q_in_registers;
  constexpr int block_m() const { return warps * 16 * m_tiles; }
};

inline constexpr FlashTiling kFlashTilings[] = {
    {"flash-128x64-w8", 8, 1, 64, 1, false, false},  // the default: no register spills (check-kernels.sh)
    {"flash-128x64-w4", 4, 2, 64, 2, false, false},
    {"flash-128x64-w4-rolled", 4, 2, 64, 2, true, false},
    {"flash-128x32-w4", 4, 2, 32, 2, false, false},
    {"flash-256x64-w8", 8, 2, 64, 1, false, false},
    {"flash-128x64-w8-qreg", 8, 1, 64, 1, false, true},
    {"flash-128x128-w8", 8, 1, 128, 1, false, false},
};
inline constexpr int kFlashTilingCount = static_cast<int>(sizeof(kFlashTilings) / sizeof(kFlashTilings[0]));

// The chunk rows and key range of block `block_row` (positions fit in int: the launcher checks).
struct FlashBlock {
  int m0;       // first chunk row of the block
  int rows;     // its real rows (the last block may be partial)
  int t_first;  // position of its first query
  int t_last;   // ... and of its last real query
  int kv_end;   // keys [0, kv_end) are visited: causal stops after t_last
  int tiles;    // key tiles of block_n covering [0, kv_end)
};

KVR_FLASH_HD inline FlashBlock flash_block(int block_row, int block_m, int block_n, int tokens, int prefix, int keys,
                                           bool causal) {
  FlashBlock b{};
  b.m0 = block_row * block_m;
  b.rows = tokens - b.m0 < block_m ? tokens - b.m0 : block_m;
  b.t_first = prefix + b.m0;
  b.t_last = b.t_first + b.rows - 1;
  b.kv_end = causal ? (keys < b.t_last + 1 ? keys : b.t_last + 1) : keys;
  b.tiles = (b.kv_end + block_n - 1) / block_n;
  return b;
}

// Causal: a key tile starting after a warp's last row contributes nothing to it.
KVR_FLASH_HD inline bool flash_skip_tile(bool causal, int n0, int warp_t_last) { return causal && n0 > warp_t_last; }

// Whether the tile at n0 reaches past a warp's first row or past kv_end (then the mask applies).
KVR_FLASH_HD inline bool flash_tile_masked(int n0, int block_n, int warp_t_first, int kv_end) {
  return n0 + block_n - 1 > warp_t_first || n0 + block_n > kv_end;
}

// In a masked tile, query position t keeps tile columns 0..limit: min(t, kv_end - 1) - n0.
KVR_FLASH_HD inline int flash_key_limit(int t, int n0, int kv_end) {
  const int t_limit = t - n0;
  const int end_limit = kv_end - 1 - n0;
  return t_limit < end_limit ? t_limit : end_limit;
}

}  // namespace kvr
