// CPU emulation of the flash attention kernel's tile loop (kvr/attention_check.hpp,
// flash_tiling_check): the blocks, warps, key tiles, tile skipping and masks of
// src/cuda/attention_flash.cuh, with the same index functions (kvr/flash_tiling.hpp), run on the
// attention check's inputs. It checks the masking and tiling arithmetic of every tiling without a
// GPU; what only a GPU shows (the MMA fragments, shared-memory staging, speed) it does not.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kvr/attention_check.hpp"
#include "kvr/error.hpp"

namespace kvr {

const FlashTiling* find_flash_tiling(const std::string& name) {
  for (const FlashTiling& tiling : kFlashTilings) {
    if (name == tiling.name) return &tiling;
  }
  return nullptr;
}

json::Value flash_tiling_check(const FlashTiling& tiling, const AttentionShape& o, bool causal, float q_scale,
                               uint64_t seed, const std::string& fault) {
  KVR_CHECK(fault == "none" || fault == "skip-diagonal" || fault == "mask-last-row" || fault == "limit-off-by-one",
            ErrorCode::InvalidArgument,
            "--tiling-fault: expected none|skip-diagonal|mask-last-row|limit-off-by-one (got \"" + fault + "\")");
  KVR_CHECK(o.heads > 0 && o.kv_heads > 0 && o.heads % o.kv_heads == 0 && o.head_dim > 0 && o.chunk > 0 &&
                o.prefix >= 0 && o.prefix + o.chunk < (int64_t{1} << 30),
            ErrorCode::InvalidArgument, "flash tiling check: bad shape");
  const std::vector<float> q = attention_check_q(o, q_scale, seed);
  const std::vector<float> cache = attention_check_cache(o, seed);
  const std::vector<int64_t> sampled = attention_check_rows(o.chunk);
  const AttentionReference want = attention_reference(o, q, cache, sampled);

  const int hd = o.head_dim;
  const int tokens = static_cast<int>(o.chunk);
  const int prefix = static_cast<int>(o.prefix);
  const int keys = prefix + tokens;
  const int block_m = tiling.block_m();
  const int block_n = tiling.keys;
  const int warp_rows = 16 * tiling.m_tiles;
  const int64_t q_stride = static_cast<int64_t>(o.heads) * hd;
  const int64_t cache_stride = 2LL * o.kv_heads * hd;
  const int group = o.heads / o.kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const double inf = std::numeric_limits<double>::infinity();

  std::vector<char> is_sampled(static_cast<size_t>(tokens), 0);
  for (const int64_t row : sampled) is_sampled[static_cast<size_t>(row)] = 1;
  std::vector<float> got(static_cast<size_t>(o.chunk * q_stride), 0.f);
  int64_t visibility_errors = 0;
  int64_t rows_seen = 0;
  int64_t tiles_visited = 0;
  int64_t tiles_masked = 0;

  std::vector<int> kept;  // tile columns a row keeps in the current tile
  std::vector<double> acc(static_cast<size_t>(hd));
  const int blocks = (tokens + block_m - 1) / block_m;
  for (int block_row = 0; block_row < blocks; ++block_row) {
    const FlashBlock b = flash_block(block_row, block_m, block_n, tokens, prefix, keys, causal);
    for (int warp = 0; warp < tiling.warps; ++warp) {
      const int warp_row0 = warp * warp_rows;
      const int warp_t_first = b.t_first + warp_row0;
      const int warp_t_last = warp_t_first + warp_rows - 1;
      for (int r = 0; r < warp_rows; ++r) {
        const int row = b.m0 + warp_row0 + r;
        if (row >= tokens) continue;  // computed on zero-filled Q by the kernel, never written
        ++rows_seen;
        const int t = prefix + row;
        // Visibility: the keys kept over all visited tiles must be exactly [0, t].
        int64_t kept_count = 0;
        bool wrong = false;
        // Online softmax in tile order, as the kernel does it (running max of raw scores, sum
        // rescaled by exp(old max - new max)); -inf - -inf gives NaN, as on the GPU, should a row
        // meet a fully masked tile before any visible key.
        const bool out_row = is_sampled[static_cast<size_t>(row)] != 0;
        std::vector<double> row_max(static_cast<size_t>(o.heads), -inf);
        std::vector<double> row_sum(static_cast<size_t>(o.heads), 0.0);
        std::vector<double> out(out_row ? static_cast<size_t>(q_stride) : 0, 0.0);
        for (int tile = 0; tile < b.tiles; ++tile) {
          const int n0 = tile * block_n;
          if (flash_skip_tile(causal, n0, warp_t_last) || (fault == "skip-diagonal" && causal && n0 == warp_t_last)) {
            continue;
          }
          if (r == 0) ++tiles_visited;
          const bool masked = flash_tile_masked(n0, block_n, fault == "mask-last-row" ? warp_t_last : warp_t_first,
                                                b.kv_end);
          if (masked && r == 0) ++tiles_masked;
          kept.clear();
          const int limit = flash_key_limit(t, n0, b.kv_end) + (fault == "limit-off-by-one" ? 1 : 0);
          for (int c = 0; c < block_n; ++c) {
            if (masked && c > limit) continue;
            const int s = n0 + c;
            if (s > t || s >= keys) wrong = true;  // a future key, or past the cache (stale shared rows)
            kept.push_back(c);
          }
          kept_count += static_cast<int64_t>(kept.size());
          if (!out_row) continue;
          for (int head = 0; head < o.heads; ++head) {
            const float* qv = q.data() + static_cast<int64_t>(row) * q_stride + static_cast<int64_t>(head) * hd;
            const int64_t kv_offset = static_cast<int64_t>(head / group) * hd;
            double tile_max = -inf;
            std::vector<double> scores(kept.size());
            for (size_t i = 0; i < kept.size(); ++i) {
              const int64_t s = n0 + kept[i];
              const float* k = cache.data() + s * cache_stride + kv_offset;
              float dot = 0.f;
              for (int d = 0; d < hd; ++d) dot += qv[d] * k[d];
              scores[i] = static_cast<double>(dot * scale);
              tile_max = std::max(tile_max, scores[i]);
            }
            double& m = row_max[static_cast<size_t>(head)];
            const double new_max = std::max(m, tile_max);
            const double correction = std::exp(m - new_max);
            m = new_max;
            double* o_head = out.data() + static_cast<int64_t>(head) * hd;
            for (int d = 0; d < hd; ++d) o_head[d] *= correction;
            double sum = 0.0;
            for (size_t i = 0; i < kept.size(); ++i) {
              const double pr = std::exp(scores[i] - new_max);
              sum += pr;
              const float* v = cache.data() + (n0 + kept[i]) * cache_stride +
                               static_cast<int64_t>(o.kv_heads) * hd + kv_offset;
              for (int d = 0; d < hd; ++d) o_head[d] += pr * v[d];
            }
            row_sum[static_cast<size_t>(head)] = row_sum[static_cast<size_t>(head)] * correction + sum;
          }
        }
        if (wrong || kept_count != static_cast<int64_t>(t) + 1) ++visibility_errors;
        if (out_row) {
          for (int head = 0; head < o.heads; ++head) {
            for (int d = 0; d < hd; ++d) {
              const int64_t j = static_cast<int64_t>(head) * hd + d;
              got[static_cast<size_t>(row * q_stride + j)] =
                  static_cast<float>(out[static_cast<size_t>(j)] / row_sum[static_cast<size_t>(head)]);
            }
          }
        }
      }
    }
  }
  KVR_CHECK(rows_seen == tokens, ErrorCode::Internal, "flash tiling check: the blocks do not cover the chunk");
  const double error = attention_max_rel_error(o, want.out, got, sampled);
  const json::Value shape = attention_shape_json(o);
  json::Value result;
  result.set("tiling", tiling.name);
  result.set("block_m", block_m);
  result.set("block_n", block_n);
  result.set("warps", tiling.warps);
  result.set("causal", causal);
  result.set("fault", fault);
  result.set("shape", shape);
  result.set("rows", rows_seen);
  result.set("tiles_visited", tiles_visited);  // per warp, summed over blocks
  result.set("tiles_masked", tiles_masked);
  result.set("visibility_errors", visibility_errors);
  result.set("rows_compared", static_cast<int64_t>(sampled.size()));
  result.set("max_rel_error", error);
  // The same fp32 scores as the reference, a different summation order: agreement to 1e-5.
  result.set("pass", visibility_errors == 0 && std::isfinite(error) && error <= 1e-5);
  return result;
}

}  // namespace kvr
