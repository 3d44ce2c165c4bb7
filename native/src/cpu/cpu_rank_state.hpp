// Everything one rank of a plan owns on the CPU: the hidden states of its chunk, scratch for its
// ops and its K,V cache. Ranks never share mutable memory, so their threads need no locks.
#pragma once

#include <cstdint>
#include <vector>

#include "cpu_layers.hpp"
#include "kvr/plan.hpp"

namespace kvr::cpu {

struct RankState {
  int64_t first_position = 0;  // P: the chunk is positions [P, P + tokens)
  int64_t tokens = 0;          // c
  int64_t kv_tokens = 0;       // cached positions [0, kv_tokens)

  std::vector<float> hidden;     // [c, d] residual stream
  std::vector<float> normed;     // [c, d] norm output (a parallel block's MLP reads the qkv op's)
  std::vector<float> wide;       // [c, max(qkv width, mlp width)] projection outputs
  std::vector<float> q;          // [c, h hd] queries after RoPE
  std::vector<float> attention;  // [c, h hd]
  std::vector<float> o_out;      // [c, d] attention projection (a parallel block adds it in mlp)
  std::vector<float> mlp_out;    // [c, d]
  std::vector<float> attention_scratch;
  RopeTable rope;                // the chunk's positions
  std::vector<float> kv_cache;   // [layer][position][k|v][kv_head][hd]

  int64_t kv_floats_per_position = 0;  // 2 h_kv hd
  float* kv_layer(int layer) { return kv_cache.data() + layer * kv_tokens * kv_floats_per_position; }
  float* kv_row(int layer, int64_t position) { return kv_layer(layer) + position * kv_floats_per_position; }
};

// Bytes make_rank_state allocates (before allocating anything).
double rank_state_bytes(const ModelConfig& model, int64_t tokens, int64_t kv_tokens);

RankState make_rank_state(const ModelConfig& model, int64_t first_position, int64_t tokens, int64_t kv_tokens);

}  // namespace kvr::cpu
