// A plan as the simulator exports it (schema "kvr-plan@1", sim/plan/plan.ts): the per-rank op DAG
// the executor runs. Parsing validates everything the executor relies on, so a bad plan becomes an
// InvalidPlan error with a message naming the field, never a crash.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kvr/json.hpp"

namespace kvr {

struct ModelConfig {
  std::string name;
  int layers = 0;
  int hidden = 0;      // d
  int heads = 0;       // h
  int kv_heads = 0;    // h_kv
  int head_dim = 0;    // hd
  int ffn = 0;         // f
  int vocab = 0;       // V
  int dtype_bytes = 2;
  bool swiglu = true;          // mlp: "swiglu" (gate, up, down) or "gelu" (up, down)
  bool parallel_block = false; // block: "parallel" (Falcon) or "sequential"
  bool layernorm = false;      // norm: "layernorm" (scale + bias) or "rmsnorm" (scale)
  bool tied_embeddings = false;
};

enum class OpKind { Compute, Transfer };

// A half-open range of token positions [start, end).
struct TokenRange {
  int64_t start = 0;
  int64_t end = 0;
  int64_t size() const { return end - start; }
};

// The tensor-parallel share of the model a rank computes (sim/plan/tensor-shard.ts): query heads
// [first_head, first_head + heads), KV heads [first_kv_head, first_kv_head + kv_heads), FFN
// columns [first_ffn, first_ffn + ffn). Without tensor parallelism: the whole model.
struct TensorShard {
  int first_head = 0;
  int heads = 0;
  int first_kv_head = 0;
  int kv_heads = 0;
  int64_t first_ffn = 0;
  int64_t ffn = 0;
};
enum class ComputeName { Qkv, Attn, O, Mlp, LmHead };

const char* compute_name(ComputeName name);  // "qkv", "attn", "o", "mlp", "lm_head"

struct PlanOp {
  int id = 0;
  OpKind kind = OpKind::Compute;
  std::vector<int> deps;
  int layer = -1;  // -1 for lm_head

  // Compute ops.
  ComputeName name = ComputeName::Qkv;
  int rank = 0;
  int64_t tokens = 0;  // c: query tokens of the chunk (1 for lm_head)
  int64_t prefix = 0;  // P: tokens before the chunk (lm_head: context - 1)
  int64_t keys = 0;    // K: keys attended per query (P + c causal; all C dense)
  bool causal = true;
  bool has_shard = false;  // the plan's op carries a `shard` (tp, tp-sp, kvr-tp); it equals the rank's
  bool merge = false;      // ring-kv attn over one K,V block, merged into the running output
  int ring_step = 0;       // ring-kv attn: which step of the layer (0: own block), counted at parse time

  // Transfer ops: K,V of tokens [token_start, token_end) of `layer`, from src's cache to dst's
  // (payload_hidden: rows of the hidden-state partial sums instead, see partial_slot).
  std::string transfer_name;  // "send", "allgather" or "reducescatter"
  int src = 0;
  int dst = 0;
  int64_t token_start = 0;
  int64_t token_end = 0;
  int64_t bytes = 0;
  int step = -1;  // ring step of a collective, -1 for plain sends
  bool payload_hidden = false;      // `payload: "hidden"`: rows of the hidden state (d values a token)
  int kv_heads = -1;                // K,V of this many KV heads (the sender's shard); -1: all of them
  std::vector<TokenRange> ranges;   // K,V of these ranges (ring-kv); empty: [token_start, token_end)
  // ring-q: `payload: "query"` (queries of the ranges' positions) or `"attn-out"` (partial attention
  // outputs and their log-sum-exps for those positions, back to the queries' owner).
  bool payload_query = false;
  bool payload_attn_out = false;
  // Hidden transfers: the partial-sum slot they carry (partial_slot(name, layer) of the o or mlp op
  // whose output they reduce or gather), -1 when they carry none (tp-sp's first all-gather).
  int partial_slot = -1;
};

// Partial sums of a tensor-parallel rank live in four slots: the o and mlp outputs of the two
// most recent layers. Two layers, because a rank may start the next layer's ops while its
// outgoing collective transfers of this layer still read the slot (see native/MODEL.md).
constexpr int kPartialSlots = 4;
inline int partial_slot(ComputeName name, int layer) { return (layer % 2) * 2 + (name == ComputeName::Mlp ? 1 : 0); }

struct Plan {
  std::string strategy;
  ModelConfig model;
  int64_t context = 0;
  int gpus = 0;
  std::vector<int64_t> partition;  // query tokens per rank (sums to context when the sequence is split)
  std::vector<int64_t> kv_tokens;  // tokens of K,V each rank holds after prefill
  int last_rank = 0;
  int tp = 1;  // tensor-parallel group size (tp, tp-sp: gpus; kvr-tp: GPUs a group; ring-kv: GPUs a ring position)
  std::vector<PlanOp> ops;

  // Where rank r's chunk starts: sum of partition[0..r).
  int64_t chunk_start(int rank) const;
};

// What one rank of a plan owns, derived from its strategy (src/core/rank_layout.cpp).
struct RankLayout {
  std::vector<TokenRange> rows;  // positions of its query tokens and hidden-state rows, in token order
  int64_t cache_extent = 0;      // its K,V cache has slots for positions [0, cache_extent)
  std::vector<TokenRange> held;  // positions whose K,V it holds after prefill (Backend::kv_cache), in order
  int64_t op_prefix = 0;         // the `prefix` its layer ops carry
  TensorShard shard;             // the heads, KV heads and FFN columns it computes
  bool sharded = false;          // tensor parallel: o and mlp produce partial sums
  int first_layer = 0;           // pp-chunked: its stage's layers [first_layer, first_layer + layer_count)
  int layer_count = -1;          // -1: every layer
  bool computes_layer(int layer) const { return layer_count < 0 || (layer >= first_layer && layer < first_layer + layer_count); }

  int64_t row_count() const;
  // Row index of a position, or -1 when the rank has no row there.
  int64_t row_of(int64_t position) const;
  bool holds_row(int64_t position) const { return row_of(position) >= 0; }
};

// Strategies whose ranks are not one contiguous chunk of whole-model rows (ring-kv, tp, tp-sp,
// kvr-tp): the backends run them with the general (row-list, sharded) code paths.
bool uses_general_layout(const std::string& strategy);

// ring-kv and ring-q: zig-zag layouts whose attention runs in ring steps.
inline bool is_ring_strategy(const std::string& strategy) { return strategy == "ring-kv" || strategy == "ring-q"; }

// One RankLayout per rank. Throws InvalidPlan when the plan's partition, kv_tokens or tp do not
// fit its strategy.
std::vector<RankLayout> rank_layouts(const Plan& plan);

// Validates and converts a parsed kvr-plan@1 document. Checks (each failure is InvalidPlan with a
// message naming the field): schema; model fields positive, heads divisible by kv_heads, mlp/block
// enums; gpus >= 1; partition has gpus positive entries that sum to the context; kv_tokens has gpus
// entries in [1, context]; op ids equal their index; deps point to earlier ops; ranks/src/dst in
// range; compute shapes agree with the partition (tokens == partition[rank], prefix == chunk start,
// keys in [prefix + tokens, context]); transfer token ranges inside [0, context) and inside what the
// source holds; bytes == (token_end - token_start) * 2 * kv_heads * head_dim * dtype_bytes; layers in
// range; exactly one lm_head, on last_rank, after every other compute op of that rank.
// ring-kv and tensor-parallel plans (uses_general_layout) are checked against their rank layouts:
// partition, kv_tokens and tp as the strategy lays them out; tokens and prefix per rank; each op's
// shard equal to its rank's; ring-kv attn steps of the step's shape; hidden-state and K,V transfer
// rows held by both ends, bytes per payload (hidden * dtype_bytes a row, or 2 * kv_heads * head_dim *
// dtype_bytes a token over `ranges`); last_rank holds position context - 1.
Plan parse_plan(const json::Value& document);

// Convenience: parse text (InvalidArgument on bad JSON) then parse_plan.
Plan parse_plan_text(const std::string& text);

}  // namespace kvr
