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

  // Transfer ops: K,V of tokens [token_start, token_end) of `layer`, from src's cache to dst's.
  std::string transfer_name;  // "send" or "allgather"
  int src = 0;
  int dst = 0;
  int64_t token_start = 0;
  int64_t token_end = 0;
  int64_t bytes = 0;
  int step = -1;  // ring step of a collective, -1 for plain sends
};

struct Plan {
  std::string strategy;
  ModelConfig model;
  int64_t context = 0;
  int gpus = 0;
  std::vector<int64_t> partition;  // query tokens per rank, sums to context
  std::vector<int64_t> kv_tokens;  // tokens of K,V each rank holds after prefill
  int last_rank = 0;
  std::vector<PlanOp> ops;

  // Where rank r's chunk starts: sum of partition[0..r).
  int64_t chunk_start(int rank) const;
};

// Validates and converts a parsed kvr-plan@1 document. Checks (each failure is InvalidPlan with a
// message naming the field): schema; model fields positive, heads divisible by kv_heads, mlp/block
// enums; gpus >= 1; partition has gpus positive entries that sum to the context; kv_tokens has gpus
// entries in [1, context]; op ids equal their index; deps point to earlier ops; ranks/src/dst in
// range; compute shapes agree with the partition (tokens == partition[rank], prefix == chunk start,
// keys in [prefix + tokens, context]); transfer token ranges inside [0, context) and inside what the
// source holds; bytes == (token_end - token_start) * 2 * kv_heads * head_dim * dtype_bytes; layers in
// range; exactly one lm_head, on last_rank, after every other compute op of that rank.
Plan parse_plan(const json::Value& document);

// Convenience: parse text (InvalidArgument on bad JSON) then parse_plan.
Plan parse_plan_text(const std::string& text);

}  // namespace kvr
