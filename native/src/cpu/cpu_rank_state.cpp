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

// The shard's widths; the projection scratch keeps the whole model's (the old paths use it whole).
RankSizes rank_sizes(const ModelConfig& model, const RankLayout& layout) {
  RankSizes sizes;
  sizes.wide_width = std::max(qkv_width(model), mlp_width(model));
  sizes.attention_width = static_cast<int64_t>(layout.shard.heads) * model.head_dim;
  sizes.scratch = attention_scratch_floats(model.heads, model.kv_heads, model.head_dim, layout.cache_extent);
  sizes.kv_per_position = 2 * static_cast<int64_t>(layout.shard.kv_heads) * model.head_dim;
  return sizes;
}

int64_t rope_span(const RankLayout& layout) { return layout.rows.back().end - layout.rows.front().start; }

}  // namespace

double rank_state_bytes(const ModelConfig& model, const RankLayout& layout, const std::vector<int>& senders) {
  const RankSizes sizes = rank_sizes(model, layout);
  const int64_t kv_tokens = layout.cache_extent;
  const double c = static_cast<double>(layout.row_count());
  const double floats = c * (4.0 * model.hidden + sizes.wide_width + 2.0 * sizes.attention_width + layout.shard.heads) +
                        static_cast<double>(rope_span(layout)) * model.head_dim +
                        static_cast<double>(sizes.scratch) + static_cast<double>(kv_tokens) +
                        static_cast<double>(model.layers) * kv_tokens * sizes.kv_per_position;
  const double partial = layout.sharded ? PartialSums::bytes(layout.row_count(), model.hidden, senders.size()) : 0.0;
  return sizeof(float) * floats + partial;
}

RankState make_rank_state(const ModelConfig& model, const RankLayout& layout, int rank_count,
                          const std::vector<int>& senders) {
  const RankSizes sizes = rank_sizes(model, layout);
  const int64_t d = model.hidden;
  const int64_t tokens = layout.row_count();
  const int64_t first_position = layout.rows.front().start;
  const int64_t kv_tokens = layout.cache_extent;
  RankState state;
  state.layout = layout;
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
  state.rope = make_rope_table(first_position, rope_span(layout), model.head_dim);
  state.lse = allocate_floats(tokens * layout.shard.heads, "attention statistics");
  state.key_scores = allocate_floats(kv_tokens, "attention scores");
  if (layout.sharded) state.partial.allocate(tokens, d, rank_count, senders);
  return state;
}

}  // namespace kvr::cpu
