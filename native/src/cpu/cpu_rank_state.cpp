#include "cpu_rank_state.hpp"

#include <algorithm>

#include "cpu_attention.hpp"
#include "cpu_memory.hpp"
#include "cpu_weights.hpp"

namespace kvr::cpu {

namespace {

struct RankSizes {
  int64_t wide_width;
  int64_t attention_width;
  int64_t scratch;
  int64_t kv_per_position;
};

RankSizes rank_sizes(const ModelConfig& model, int64_t kv_tokens) {
  RankSizes sizes;
  sizes.wide_width = std::max(qkv_width(model), mlp_width(model));
  sizes.attention_width = static_cast<int64_t>(model.heads) * model.head_dim;
  sizes.scratch = attention_scratch_floats(model.heads, model.kv_heads, model.head_dim, kv_tokens);
  sizes.kv_per_position = 2 * static_cast<int64_t>(model.kv_heads) * model.head_dim;
  return sizes;
}

}  // namespace

double rank_state_bytes(const ModelConfig& model, int64_t tokens, int64_t kv_tokens) {
  const RankSizes sizes = rank_sizes(model, kv_tokens);
  const double c = static_cast<double>(tokens);
  const double floats = c * (4.0 * model.hidden + sizes.wide_width + 2.0 * sizes.attention_width + model.head_dim) +
                        static_cast<double>(sizes.scratch) +
                        static_cast<double>(model.layers) * kv_tokens * sizes.kv_per_position;
  return sizeof(float) * floats;
}

RankState make_rank_state(const ModelConfig& model, int64_t first_position, int64_t tokens, int64_t kv_tokens) {
  const RankSizes sizes = rank_sizes(model, kv_tokens);
  const int64_t d = model.hidden;
  RankState state;
  state.first_position = first_position;
  state.tokens = tokens;
  state.kv_tokens = kv_tokens;
  state.kv_floats_per_position = sizes.kv_per_position;
  state.hidden = allocate_floats(tokens * d, "hidden states");
  state.normed = allocate_floats(tokens * d, "hidden states");
  state.wide = allocate_floats(tokens * sizes.wide_width, "projection outputs");
  state.q = allocate_floats(tokens * sizes.attention_width, "queries");
  state.attention = allocate_floats(tokens * sizes.attention_width, "attention outputs");
  state.o_out = allocate_floats(tokens * d, "attention outputs");
  state.mlp_out = allocate_floats(tokens * d, "MLP outputs");
  state.attention_scratch = allocate_floats(sizes.scratch, "attention scores");
  state.kv_cache = allocate_floats(model.layers * kv_tokens * sizes.kv_per_position, "the K,V cache");
  state.rope = make_rope_table(first_position, tokens, model.head_dim);
  return state;
}

}  // namespace kvr::cpu
