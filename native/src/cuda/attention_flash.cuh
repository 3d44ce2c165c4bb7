// Device body of the flash attention kernel (launcher and tiling variants in attention_flash.cu).
//
// Tiling. A block owns kBlockM = kWarps * 16 * kMTiles query rows of one head; each warp owns
// kMTiles m16 tiles (16 rows each). Keys are visited in tiles of kBlockN positions (32 or 64)
// staged in shared memory by cp.async, two stages (tile j + 1 loads while tile j is used). Per
// tile and warp:
//   S = Q K^T      kMTiles x kBlockN/8 n-tiles x hd/16 k-steps of mma.m16n8k16 (Q, K by ldmatrix)
//   online softmax on the S accumulators in registers (row max over the 4 lanes of a quad; the
//                  row sum stays per lane until the end)
//   O += P V       P re-packed from the S accumulators as the A operand (no shared memory round
//                  trip), V by ldmatrix.trans
// Shared rows are padded by 16 bytes (kStride = hd + 8 halves): the 8 row addresses of an
// ldmatrix phase then fall on 8 distinct 16-byte bank groups, and so do the 16-byte cp.async
// stores of a quarter warp.
//
// Causal mode visits key tiles up to the block's last query and skips, per warp, tiles that lie
// entirely above its rows; only tiles that straddle the diagonal (or the end of the keys) are
// masked. Dense mode visits every tile of [0, keys) and masks s > t.
//
// Napkin math (hd = 128, 4 warps x 2 m-tiles, 64-key tiles, H100 SXM): per warp and key tile
// 256 MMAs (256 x 4096 flop = 1.05 MFLOP) against 40 KB of ldmatrix traffic (Q 8, K 16, V 16 KB):
// 26 flop per shared byte; at 128 B/clk/SM shared memory allows ~3300 flop/clk/SM, more than
// mma.sync sustains (~2700 flop/clk/SM = ~650 TFLOP/s on 132 SMs at 1.8 GHz), so the MMA pipe
// and the softmax (64 exp2 per lane and tile on the 16/clk/SM MUFU) bound the kernel. Half of the
// mma.sync rate would be ~325 TFLOP/s, about what FlashAttention-2 (also mma.sync) reaches on an
// H100 at hd = 128; the acceptance bar is 70% of PyTorch's flash SDPA (not yet measured here).
//
// Registers (ptxas, printed by scripts/check-kernels.sh). At hd = 128 a warp of 2 m-tiles holds
// 128 O and 64 S accumulators per lane; with the Q/K/V fragments and addresses that passes the
// 255-register cap and spills (flash-128x64-w4: 28-48 bytes). The default, flash-128x64-w8, gives
// each of 8 warps one m-tile (64 O + 32 S accumulators, ~195 registers, no spills) at the same
// 8 warps per SM; the price is twice the K/V ldmatrix traffic per MMA (~14 flop per shared byte,
// still near the mma.sync rate). flash-128x64-w8-qreg spends the spare registers on keeping Q's
// fragments (32 per lane) instead of re-reading them every key tile; flash-128x128-w8 spends them
// on 128-key tiles (half the barriers and softmax rescales per key) and needs Hopper's shared
// memory. Which is fastest on a card only a GPU run tells: bench-attention times them all.
#pragma once

#include <cstdint>

#include <cuda_fp16.h>

#include "attention.hpp"
#include "kvr/flash_tiling.hpp"
#include "ptx.cuh"

namespace kvr::cuda::flash {

template <int kHeadDim, int kWarps, int kMTiles, int kKeys>
struct Config {
  static constexpr int kBlockN = kKeys;                  // keys per shared-memory tile
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kBlockM = kWarps * 16 * kMTiles;  // query rows per block
  static constexpr int kStride = kHeadDim + 8;           // padded shared row, in halves
  static constexpr int kChunks = kHeadDim / 8;           // 16-byte chunks per row
  static constexpr int kQHalves = kBlockM * kStride;
  static constexpr int kTileHalves = kBlockN * kStride;
  // Q, then two stages of (K, V).
  static constexpr int kSharedBytes = (kQHalves + 4 * kTileHalves) * static_cast<int>(sizeof(__half));
  static_assert(kHeadDim % 16 == 0, "head_dim must be a multiple of 16");
  static_assert(kBlockN % 16 == 0, "key tiles are whole k16 steps of P V");
};

// Loads rows [0, kRows) of a tile whose row r lives at base + r * stride (elements) into shared
// rows of kStride halves at `shared`, when r < valid_rows; other rows are zero-filled so masked keys
// meet finite zeros, never stale shared memory.
template <int kRows, int kChunks, int kStride, int kThreads>
__device__ __forceinline__ void load_rows(uint32_t shared, const __half* base, int64_t stride, int valid_rows) {
  static_assert(kRows * kChunks % kThreads == 0, "every thread copies the same number of chunks");
#pragma unroll
  for (int it = 0; it < kRows * kChunks / kThreads; ++it) {
    const int i = it * kThreads + static_cast<int>(threadIdx.x);
    const int row = i / kChunks;
    const int chunk = i % kChunks;
    const bool valid = row < valid_rows;
    const __half* source = base + (valid ? row * stride : 0) + chunk * 8;
    ptx::cp_async_16(shared + static_cast<uint32_t>((row * kStride + chunk * 8) * sizeof(__half)), source, valid);
  }
}

// kQKUnroll: unroll factor of the k-steps of S = Q K^T (kHeadDim / 16 unrolls fully; 1 keeps the
// loop, trading the compiler's cross-step load scheduling for fewer live registers).
// kQInRegisters: each warp loads its Q fragments from shared memory once, before the key loop, and
// keeps them in registers (kMTiles * kHeadDim / 4 more per lane) instead of re-reading them with
// ldmatrix on every key tile; only the source of the A operand of Q K^T changes.
template <int kHeadDim, int kWarps, int kMTiles, int kKeys, int kQKUnroll, bool kQInRegisters = false>
__device__ __forceinline__ void attention_block(const AttentionParams& p, __half* shared, int block_row, int head) {
  using C = Config<kHeadDim, kWarps, kMTiles, kKeys>;
  constexpr int kBlockM = C::kBlockM;
  constexpr int kBlockN = C::kBlockN;
  constexpr int kStride = C::kStride;
  constexpr int kRowBytes = kStride * static_cast<int>(sizeof(__half));
  constexpr int kTileBytes = C::kTileHalves * static_cast<int>(sizeof(__half));
  constexpr int kNTiles = kBlockN / 8;     // n8 tiles of S per key tile
  constexpr int kDTiles = kHeadDim / 8;    // n8 tiles of O
  constexpr int kKSteps = kHeadDim / 16;   // k16 steps of Q K^T

  // Shared window addresses: Q, then K stages 0 and 1, then V stages 0 and 1.
  const uint32_t q_shared = ptx::shared_address(shared);
  const uint32_t k_shared = q_shared + C::kQHalves * static_cast<uint32_t>(sizeof(__half));
  const uint32_t v_shared = k_shared + 2 * kTileBytes;

  const int lane = static_cast<int>(threadIdx.x) % 32;
  const int warp = static_cast<int>(threadIdx.x) / 32;
  const int group = lane / 4;  // row within an m16 half
  const int tig = lane % 4;    // column pair within an n8 tile

  // Positions and chunk rows fit in int (the launcher checks keys < 2^31). The index arithmetic
  // (block range, tile skipping, mask limits) is kvr/flash_tiling.hpp's, which the CPU emulation
  // of this loop (flash_tiling_check) uses too.
  const int tokens = static_cast<int>(p.tokens);
  const FlashBlock block = flash_block(block_row, kBlockM, kBlockN, tokens, static_cast<int>(p.prefix),
                                       static_cast<int>(p.keys), p.causal);
  const int m0 = block.m0;
  const int rows = block.rows;
  const int t_first = block.t_first;
  const int kv_end = block.kv_end;
  const int tiles = block.tiles;

  const int kv_head = head / (p.heads / p.kv_heads);
  const int64_t cache_stride = 2LL * p.kv_heads * kHeadDim;
  const __half* k_base = p.cache + static_cast<int64_t>(kv_head) * kHeadDim;
  const __half* v_base = k_base + static_cast<int64_t>(p.kv_heads) * kHeadDim;

  // Rows of this warp, as positions.
  const int warp_row0 = warp * 16 * kMTiles;
  const int warp_t_first = t_first + warp_row0;
  const int warp_t_last = warp_t_first + 16 * kMTiles - 1;

  // This lane's ldmatrix row addresses (byte offsets) for k-step / key-step 0:
  //  Q (A operand): matrices (rows 0-7, cols 0-7), (rows 8-15, cols 0-7), (rows 0-7, cols 8-15), (rows 8-15, cols 8-15)
  //  K (B operand of Q K^T, rows = keys): (keys 0-7, hd 0-7), (keys 0-7, hd 8-15), (keys 8-15, hd 0-7), (keys 8-15, hd 8-15)
  //    = b0, b1 of n-tile 2nn and b0, b1 of n-tile 2nn + 1
  //  V (B operand of P V, transposed, rows = keys): (keys 0-7, hd 0-7), (keys 8-15, hd 0-7), (keys 0-7, hd 8-15), (keys 8-15, hd 8-15)
  //    = b0, b1 of hd-tile 2dd and b0, b1 of hd-tile 2dd + 1
  const uint32_t q_lane = static_cast<uint32_t>((warp_row0 + (lane & 7) + ((lane >> 3) & 1) * 8) * kRowBytes + (lane >> 4) * 16);
  const uint32_t k_lane = static_cast<uint32_t>(((lane & 7) + ((lane >> 4) & 1) * 8) * kRowBytes + ((lane >> 3) & 1) * 16);
  const uint32_t v_lane = static_cast<uint32_t>(((lane & 7) + ((lane >> 3) & 1) * 8) * kRowBytes + (lane >> 4) * 16);

  auto load_kv = [&](int tile, int stage) {
    const int n0 = tile * kBlockN;
    const int64_t offset = static_cast<int64_t>(n0) * cache_stride;
    load_rows<kBlockN, C::kChunks, kStride, C::kThreads>(k_shared + stage * kTileBytes, k_base + offset, cache_stride,
                                                         kv_end - n0);
    load_rows<kBlockN, C::kChunks, kStride, C::kThreads>(v_shared + stage * kTileBytes, v_base + offset, cache_stride,
                                                         kv_end - n0);
  };

  static_assert(!kQInRegisters || kQKUnroll == kKSteps, "Q fragments in registers need the k-steps unrolled");
  load_rows<kBlockM, C::kChunks, kStride, C::kThreads>(
      q_shared, p.q + static_cast<int64_t>(m0) * p.q_stride + static_cast<int64_t>(head) * kHeadDim, p.q_stride, rows);
  if constexpr (kQInRegisters) ptx::cp_async_commit();  // Q alone, so it can be waited for before K,V tile 0
  load_kv(0, 0);
  ptx::cp_async_commit();

  // Q fragments kept for the whole key loop (kQInRegisters); a 1-element dummy otherwise.
  uint32_t q_frag[kQInRegisters ? kMTiles : 1][kQInRegisters ? kKSteps : 1][4];
  if constexpr (kQInRegisters) {
    ptx::cp_async_wait<1>();  // Q has landed; K,V tile 0 may still be in flight
    __syncthreads();          // ... including the rows other threads copied
#pragma unroll
    for (int mt = 0; mt < kMTiles; ++mt) {
#pragma unroll
      for (int kk = 0; kk < kKSteps; ++kk) ptx::ldmatrix_x4(q_frag[mt][kk], q_shared + q_lane + mt * 16 * kRowBytes + kk * 32);
    }
  } else {
    q_frag[0][0][0] = q_frag[0][0][1] = q_frag[0][0][2] = q_frag[0][0][3] = 0u;  // unused
  }

  float o[kMTiles][kDTiles][4];
  float row_max[kMTiles][2];  // running max of raw scores, rows group and group + 8
  float row_sum[kMTiles][2];  // running sum of exp, this lane's columns only (quad-reduced at the end)
#pragma unroll
  for (int mt = 0; mt < kMTiles; ++mt) {
#pragma unroll
    for (int d = 0; d < kDTiles; ++d) {
#pragma unroll
      for (int e = 0; e < 4; ++e) o[mt][d][e] = 0.f;
    }
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
      row_max[mt][hr] = -INFINITY;
      row_sum[mt][hr] = 0.f;
    }
  }
  const float scale_log2 = p.softmax_scale * 1.4426950408889634f;  // exp(x) = exp2(x log2 e)

  for (int tile = 0; tile < tiles; ++tile) {
    const int stage = tile & 1;
    if (tile + 1 < tiles) load_kv(tile + 1, stage ^ 1);
    ptx::cp_async_commit();  // possibly empty: keeps "all but the newest group" meaning tile `tile`
    ptx::cp_async_wait<1>();
    __syncthreads();

    const int n0 = tile * kBlockN;
    // Causal: a tile entirely above this warp's rows contributes nothing.
    const bool skip = flash_skip_tile(p.causal, n0, warp_t_last);
    if (!skip) {
      const uint32_t ks = k_shared + stage * kTileBytes + k_lane;
      const uint32_t vs = v_shared + stage * kTileBytes + v_lane;

      // S = Q K^T.
      float s[kMTiles][kNTiles][4];
#pragma unroll
      for (int mt = 0; mt < kMTiles; ++mt) {
#pragma unroll
        for (int nt = 0; nt < kNTiles; ++nt) {
#pragma unroll
          for (int e = 0; e < 4; ++e) s[mt][nt][e] = 0.f;
        }
      }
#pragma unroll kQKUnroll
      for (int kk = 0; kk < kKSteps; ++kk) {
        uint32_t a[kMTiles][4];
#pragma unroll
        for (int mt = 0; mt < kMTiles; ++mt) {
          if constexpr (kQInRegisters) {
#pragma unroll
            for (int r = 0; r < 4; ++r) a[mt][r] = q_frag[mt][kk][r];
          } else {
            ptx::ldmatrix_x4(a[mt], q_shared + q_lane + mt * 16 * kRowBytes + kk * 32);
          }
        }
#pragma unroll
        for (int nn = 0; nn < kNTiles / 2; ++nn) {
          uint32_t b[4];
          ptx::ldmatrix_x4(b, ks + nn * 16 * kRowBytes + kk * 32);
#pragma unroll
          for (int mt = 0; mt < kMTiles; ++mt) {
            ptx::mma_16816(s[mt][2 * nn], a[mt], b[0], b[1]);
            ptx::mma_16816(s[mt][2 * nn + 1], a[mt], b[2], b[3]);
          }
        }
      }

      // Mask keys past the end and keys after the query, where the tile reaches them. In tile
      // coordinates a row keeps keys 0..limit: limit = min(t, kv_end - 1) - n0.
      if (flash_tile_masked(n0, kBlockN, warp_t_first, kv_end)) {
#pragma unroll
        for (int mt = 0; mt < kMTiles; ++mt) {
#pragma unroll
          for (int hr = 0; hr < 2; ++hr) {
            const int limit = flash_key_limit(warp_t_first + mt * 16 + group + hr * 8, n0, kv_end);
#pragma unroll
            for (int nt = 0; nt < kNTiles; ++nt) {
#pragma unroll
              for (int e = 0; e < 2; ++e) {
                if (nt * 8 + 2 * tig + e > limit) s[mt][nt][2 * hr + e] = -INFINITY;
              }
            }
          }
        }
      }

      // Online softmax. Tile 0 holds key 0 <= t for every row, so the running max is finite
      // from the first tile on and exp2(-inf - max) = 0 for masked keys.
#pragma unroll
      for (int mt = 0; mt < kMTiles; ++mt) {
#pragma unroll
        for (int hr = 0; hr < 2; ++hr) {
          float tile_max = -INFINITY;
#pragma unroll
          for (int nt = 0; nt < kNTiles; ++nt) {
            tile_max = fmaxf(tile_max, fmaxf(s[mt][nt][2 * hr], s[mt][nt][2 * hr + 1]));
          }
          tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
          tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 2));
          const float new_max = fmaxf(row_max[mt][hr], tile_max);
          const float correction = ptx::fast_exp2((row_max[mt][hr] - new_max) * scale_log2);
          row_max[mt][hr] = new_max;
          const float max_scaled = new_max * scale_log2;
          float sum = 0.f;
#pragma unroll
          for (int nt = 0; nt < kNTiles; ++nt) {
#pragma unroll
            for (int e = 2 * hr; e < 2 * hr + 2; ++e) {
              const float prob = ptx::fast_exp2(fmaf(s[mt][nt][e], scale_log2, -max_scaled));
              s[mt][nt][e] = prob;
              sum += prob;
            }
          }
          row_sum[mt][hr] = row_sum[mt][hr] * correction + sum;
#pragma unroll
          for (int d = 0; d < kDTiles; ++d) {
            o[mt][d][2 * hr] *= correction;
            o[mt][d][2 * hr + 1] *= correction;
          }
        }
      }

      // O += P V, P taken from the S accumulators: n-tiles 2kk and 2kk+1 form the A operand of
      // k-step kk (keys 16kk..16kk+15).
#pragma unroll
      for (int kk = 0; kk < kBlockN / 16; ++kk) {
        uint32_t a[kMTiles][4];
#pragma unroll
        for (int mt = 0; mt < kMTiles; ++mt) {
          a[mt][0] = ptx::pack_half2(s[mt][2 * kk][0], s[mt][2 * kk][1]);
          a[mt][1] = ptx::pack_half2(s[mt][2 * kk][2], s[mt][2 * kk][3]);
          a[mt][2] = ptx::pack_half2(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
          a[mt][3] = ptx::pack_half2(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
        }
#pragma unroll
        for (int dd = 0; dd < kDTiles / 2; ++dd) {
          uint32_t b[4];
          ptx::ldmatrix_x4_trans(b, vs + kk * 16 * kRowBytes + dd * 32);
#pragma unroll
          for (int mt = 0; mt < kMTiles; ++mt) {
            ptx::mma_16816(o[mt][2 * dd], a[mt], b[0], b[1]);
            ptx::mma_16816(o[mt][2 * dd + 1], a[mt], b[2], b[3]);
          }
        }
      }
    }
    __syncthreads();  // everyone is done with `stage` before tile + 2 is loaded into it
  }

  // O / l, written as half2 pairs.
#pragma unroll
  for (int mt = 0; mt < kMTiles; ++mt) {
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
      float sum = row_sum[mt][hr];
      sum += __shfl_xor_sync(0xffffffffu, sum, 1);
      sum += __shfl_xor_sync(0xffffffffu, sum, 2);
      const float inverse = 1.f / sum;
      const int row = m0 + warp_row0 + mt * 16 + group + hr * 8;
      if (row < tokens) {
        __half* out = p.out + static_cast<int64_t>(row) * p.out_stride + static_cast<int64_t>(head) * kHeadDim + 2 * tig;
#pragma unroll
        for (int d = 0; d < kDTiles; ++d) {
          *reinterpret_cast<__half2*>(out + d * 8) =
              __floats2half2_rn(o[mt][d][2 * hr] * inverse, o[mt][d][2 * hr + 1] * inverse);
        }
      }
    }
  }
}

}  // namespace kvr::cuda::flash
