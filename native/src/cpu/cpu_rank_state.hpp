// Everything one rank of a plan owns on the CPU: the hidden states of its rows, scratch for its
// ops, its K,V cache and (tensor parallel) its partial sums. A rank's memory is written only by
// its own ops and by the transfers into it; the plan's dependencies order those, so no locks.
#pragma once

#include <cstdint>
#include <vector>

#include "cpu_layers.hpp"
#include "cpu_partial_sums.hpp"
#include "kvr/plan.hpp"

namespace kvr::cpu {

struct RankState {
  RankLayout layout;           // rows, cache extent and shard (include/kvr/plan.hpp)
  int64_t first_position = 0;  // P: the first row's position (contiguous chunks: rows [P, P + tokens))
  int64_t tokens = 0;          // c: rows
  int64_t kv_tokens = 0;       // cached positions [0, kv_tokens) (the layout's cache_extent)

  std::vector<float> hidden;     // [c, d] residual stream
  std::vector<float> normed;     // [c, d] norm output (a parallel block's MLP reads the qkv op's)
  std::vector<float> wide;       // [c, max(qkv width, mlp width)] projection outputs
  std::vector<float> q;          // [c, h hd] queries after RoPE
  std::vector<float> attention;  // [c, h hd]
  std::vector<float> o_out;      // [c, d] attention projection (a parallel block adds it in mlp)
  std::vector<float> mlp_out;    // [c, d]
  std::vector<float> attention_scratch;
  RopeTable rope;                // positions [first row, last row]
  std::vector<float> kv_cache;   // [layer][position][k|v][kv_head of the shard][hd]
  std::vector<float> lse;        // general layouts: [c, heads of the shard] log-sum-exp of the attention rows
  std::vector<float> key_scores; // general layouts: one row of attention scores, [kv_tokens]
  PartialSums partial;           // tensor parallel only
  // ring-q only: queries of other positions visiting this rank, by position [C, h hd of the shard];
  // the partial outputs and log-sum-exps this rank computed for them, by layer parity and position
  // [2][C, h hd], [2][C, h]; and those returned to it, by source rank and row [p][c, h hd], [p][c, h].
  std::vector<float> visiting_q;
  std::vector<float> partial_out;
  std::vector<float> partial_lse;
  std::vector<float> returned_out;
  std::vector<float> returned_lse;

  int64_t kv_floats_per_position = 0;  // 2 h_kv hd (h_kv of the shard)
  float* kv_layer(int layer) { return kv_cache.data() + layer * kv_tokens * kv_floats_per_position; }
  float* kv_row(int layer, int64_t position) { return kv_layer(layer) + position * kv_floats_per_position; }
};

// Bytes make_rank_state allocates (before allocating anything); `senders`: ranks whose
// reduce-scatters send to this one.
double rank_state_bytes(const ModelConfig& model, const RankLayout& layout, const std::vector<int>& senders);

RankState make_rank_state(const ModelConfig& model, const RankLayout& layout, int rank_count,
                          const std::vector<int>& senders);

}  // namespace kvr::cpu
