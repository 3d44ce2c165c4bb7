// Which rows, K,V positions and model shard each rank of a plan owns. The plan carries only token
// counts (partition, kv_tokens, tp); the layouts follow from the strategy exactly as the
// simulator's plan builders lay them out (sim/plan/strategies/*.ts, sim/plan/tensor-shard.ts).
#include <algorithm>
#include <string>

#include "kvr/error.hpp"
#include "kvr/plan.hpp"

namespace kvr {

namespace {

// Even split, the first `total mod parts` parts one larger (sim/plan/partition.ts evenPartition).
std::vector<int64_t> even_partition(int64_t total, int64_t parts) {
  std::vector<int64_t> sizes(static_cast<size_t>(parts), total / parts);
  for (int64_t i = 0; i < total % parts; ++i) sizes[static_cast<size_t>(i)] += 1;
  return sizes;
}

std::vector<int64_t> starts_of(const std::vector<int64_t>& sizes) {
  std::vector<int64_t> starts(sizes.size(), 0);
  for (size_t i = 1; i < sizes.size(); ++i) starts[i] = starts[i - 1] + sizes[i - 1];
  return starts;
}

TensorShard whole_model(const ModelConfig& model) {
  TensorShard shard;
  shard.heads = model.heads;
  shard.kv_heads = model.kv_heads;
  shard.ffn = model.ffn;
  return shard;
}

// Megatron-LM split over t ranks: heads and FFN columns evenly (first ones one more); a rank keeps
// every KV head its query heads read (replicated under GQA/MQA when t > kv_heads).
TensorShard tensor_shard(const ModelConfig& model, int t, int j) {
  const std::vector<int64_t> heads = even_partition(model.heads, t);
  const std::vector<int64_t> ffn = even_partition(model.ffn, t);
  const int group = model.heads / model.kv_heads;
  TensorShard shard;
  shard.first_head = static_cast<int>(starts_of(heads)[static_cast<size_t>(j)]);
  shard.heads = static_cast<int>(heads[static_cast<size_t>(j)]);
  shard.first_kv_head = shard.first_head / group;
  shard.kv_heads = (shard.first_head + shard.heads - 1) / group - shard.first_kv_head + 1;
  shard.first_ffn = starts_of(ffn)[static_cast<size_t>(j)];
  shard.ffn = ffn[static_cast<size_t>(j)];
  return shard;
}

[[noreturn]] void fail(const std::string& field, const std::string& message) {
  KVR_FAIL(ErrorCode::InvalidPlan, field + ": " + message);
}

void expect_counts(const Plan& plan, const char* field, const std::vector<int64_t>& got,
                   const std::vector<int64_t>& expected, const char* why) {
  for (size_t r = 0; r < got.size(); ++r) {
    if (got[r] != expected[r]) {
      fail(std::string(field) + "[" + std::to_string(r) + "]",
           std::to_string(got[r]) + ", but a " + plan.strategy + " plan over " + std::to_string(plan.gpus) +
               " GPUs gives rank " + std::to_string(r) + " " + std::to_string(expected[r]) + " (" + why + ")");
    }
  }
}

}  // namespace

int64_t RankLayout::row_count() const {
  int64_t count = 0;
  for (const TokenRange& range : rows) count += range.size();
  return count;
}

int64_t RankLayout::row_of(int64_t position) const {
  int64_t before = 0;
  for (const TokenRange& range : rows) {
    if (position >= range.start && position < range.end) return before + position - range.start;
    before += range.size();
  }
  return -1;
}

bool uses_general_layout(const std::string& strategy) {
  return strategy == "ring-kv" || strategy == "ring-q" || strategy == "tp" || strategy == "tp-sp" || strategy == "kvr-tp";
}

std::vector<RankLayout> rank_layouts(const Plan& plan) {
  const int p = plan.gpus;
  const int64_t C = plan.context;
  KVR_CHECK(p >= 1 && plan.partition.size() == static_cast<size_t>(p) && plan.kv_tokens.size() == static_cast<size_t>(p),
            ErrorCode::InvalidPlan, "plan: partition and kv_tokens need one entry per rank");
  std::vector<RankLayout> layouts(static_cast<size_t>(p));
  const std::string& strategy = plan.strategy;

  if (is_ring_strategy(strategy)) {
    // Zig-zag over g = p / t ring positions: 2g even chunks; position k (ranks k*t .. k*t+t-1)
    // holds chunks k and 2g-1-k, rank k*t+j as tensor shard j of t (sim/plan/strategies/ring-kv.ts).
    const int t = plan.tp;
    if (t < 1 || p % t != 0) {
      fail("plan.tp", "expected a divisor of the GPU count " + std::to_string(p) + " (got " + std::to_string(t) + ")");
    }
    if (t > 1 && plan.model.heads < t) {
      fail("plan.tp", std::to_string(t) + " ranks a position, but the model has only " +
                          std::to_string(plan.model.heads) + " heads to split");
    }
    const int g = p / t;
    const std::vector<int64_t> chunks = even_partition(C, 2 * int64_t{g});
    const std::vector<int64_t> starts = starts_of(chunks);
    std::vector<int64_t> tokens(static_cast<size_t>(p));
    for (int r = 0; r < p; ++r) {
      const size_t a = static_cast<size_t>(r / t);
      const size_t z = static_cast<size_t>(2 * g - 1 - r / t);
      RankLayout& layout = layouts[static_cast<size_t>(r)];
      if (chunks[a] > 0) layout.rows.push_back({starts[a], starts[a] + chunks[a]});
      if (chunks[z] > 0) layout.rows.push_back({starts[z], starts[z] + chunks[z]});
      layout.held = layout.rows;
      layout.cache_extent = C;  // blocks of every position pass through
      layout.op_prefix = 0;
      layout.shard = t > 1 ? tensor_shard(plan.model, t, r % t) : whole_model(plan.model);
      layout.sharded = t > 1;
      tokens[static_cast<size_t>(r)] = chunks[a] + chunks[z];
    }
    expect_counts(plan, "plan.partition", plan.partition, tokens, "its position's zig-zag chunks k and 2g-1-k");
    expect_counts(plan, "plan.kv_tokens", plan.kv_tokens, tokens, "its position's zig-zag chunks k and 2g-1-k");
    return layouts;
  }

  if (strategy == "tp" || strategy == "tp-sp") {
    if (plan.tp != p) {
      fail("plan.tp", "expected the GPU count " + std::to_string(p) + " for " + strategy + " (got " +
                          std::to_string(plan.tp) + ")");
    }
    if (plan.model.heads < p) {
      fail("plan.tp", std::to_string(p) + " ranks, but the model has only " + std::to_string(plan.model.heads) +
                          " heads to split");
    }
    const std::vector<int64_t> all(static_cast<size_t>(p), C);
    expect_counts(plan, "plan.partition", plan.partition, all, "every rank computes all tokens");
    expect_counts(plan, "plan.kv_tokens", plan.kv_tokens, all, "every rank computes all tokens");
    for (int r = 0; r < p; ++r) {
      RankLayout& layout = layouts[static_cast<size_t>(r)];
      layout.rows = {{0, C}};
      layout.held = layout.rows;
      layout.cache_extent = C;
      layout.op_prefix = 0;
      layout.shard = tensor_shard(plan.model, p, r);
      layout.sharded = true;
    }
    return layouts;
  }

  if (strategy == "kvr-tp") {
    const int t = plan.tp;
    if (t < 1 || p % t != 0) {
      fail("plan.tp", "expected a divisor of the GPU count " + std::to_string(p) + " (got " + std::to_string(t) + ")");
    }
    if (plan.model.heads < t) {
      fail("plan.tp", std::to_string(t) + " ranks a group, but the model has only " +
                          std::to_string(plan.model.heads) + " heads to split");
    }
    // Group k = ranks k*t .. k*t+t-1 computes chunk k: partition holds it once per rank of the group.
    int64_t prefix = 0;
    std::vector<int64_t> chunk(static_cast<size_t>(p)), held(static_cast<size_t>(p));
    for (int k = 0; k < p / t; ++k) {
      const int64_t c = plan.partition[static_cast<size_t>(k * t)];
      for (int j = 0; j < t; ++j) {
        const size_t r = static_cast<size_t>(k * t + j);
        chunk[r] = c;
        held[r] = prefix + c;
        RankLayout& layout = layouts[r];
        layout.rows = {{prefix, prefix + c}};
        layout.held = {{0, prefix + c}};
        layout.cache_extent = prefix + c;
        layout.op_prefix = prefix;
        layout.shard = tensor_shard(plan.model, t, j);
        layout.sharded = true;
      }
      prefix += c;
    }
    expect_counts(plan, "plan.partition", plan.partition, chunk, "the chunk of its group, as the group's first rank");
    if (prefix != C) fail("plan.partition", "the groups' chunks sum to " + std::to_string(prefix) + ", not the context " + std::to_string(C));
    expect_counts(plan, "plan.kv_tokens", plan.kv_tokens, held, "its group's prefix and chunk");
    return layouts;
  }

  if (strategy == "pp-chunked") {
    // Stage s = rank s holds every row and position, and computes layers [first, first + count)
    // of them chunk by chunk (sim/plan/strategies/pp-chunked.ts; layers split evenly, the first
    // stages one more).
    if (plan.tp != 1) {
      fail("plan.tp", "pp-chunked runs on the executor with one GPU a stage (expected 1, got " + std::to_string(plan.tp) +
                          "); simulate --tp with kvr simulate");
    }
    if (p > plan.model.layers) {
      fail("plan.gpus", std::to_string(p) + " stages, but the model has only " + std::to_string(plan.model.layers) + " layers");
    }
    const std::vector<int64_t> layers = even_partition(plan.model.layers, p);
    const std::vector<int64_t> first = starts_of(layers);
    const std::vector<int64_t> all(static_cast<size_t>(p), C);
    expect_counts(plan, "plan.partition", plan.partition, all, "every stage computes all tokens");
    expect_counts(plan, "plan.kv_tokens", plan.kv_tokens, all, "every stage caches all tokens of its layers");
    for (int r = 0; r < p; ++r) {
      RankLayout& layout = layouts[static_cast<size_t>(r)];
      layout.rows = {{0, C}};
      layout.held = layout.rows;
      layout.cache_extent = C;
      layout.op_prefix = 0;
      layout.shard = whole_model(plan.model);
      layout.first_layer = static_cast<int>(first[static_cast<size_t>(r)]);
      layout.layer_count = static_cast<int>(layers[static_cast<size_t>(r)]);
    }
    return layouts;
  }

  // Sequence split into contiguous chunks of whole-model rows (single, tsp, tsp-causal, kvr*).
  if (plan.tp != 1) fail("plan.tp", "expected 1 for " + strategy + " (got " + std::to_string(plan.tp) + ")");
  int64_t start = 0;
  for (int r = 0; r < p; ++r) {
    RankLayout& layout = layouts[static_cast<size_t>(r)];
    const int64_t c = plan.partition[static_cast<size_t>(r)];
    layout.rows = {{start, start + c}};
    layout.cache_extent = plan.kv_tokens[static_cast<size_t>(r)];
    layout.held = {{0, layout.cache_extent}};
    layout.op_prefix = start;
    layout.shard = whole_model(plan.model);
    start += c;
  }
  return layouts;
}

}  // namespace kvr
