#include "kvr/plan.hpp"

#include <algorithm>
#include <cmath>

#include "kvr/error.hpp"

namespace kvr {

// Messages are built only on failure: a plan can have millions of ops.
#define KVR_PLAN_CHECK(condition, field, message)                                          \
  do {                                                                                     \
    if (!(condition)) KVR_FAIL(ErrorCode::InvalidPlan, (field).str() + ": " + (message)); \
  } while (0)

namespace {

constexpr const char* kPlanSchema = "kvr-plan@1";

// Strategies this executor knows how to run; a new one in sim/plan/plan.ts goes here too.
constexpr const char* kStrategyNames[] = {"single", "tsp", "tsp-causal", "kvr", "kvr-e", "kvr-s", "kvr-p",
                                         "ring-kv", "tp", "tp-sp", "kvr-tp", "pp-chunked", "ring-q"};

// Absurd sizes are refused before anything is allocated for them.
constexpr int64_t kMaxLayers = 4096;
constexpr int64_t kMaxDimension = int64_t{1} << 24;  // hidden, ffn, vocab
constexpr int64_t kMaxHeads = 65536;                 // heads, kv_heads, head_dim
constexpr int64_t kMaxDtypeBytes = 8;
constexpr int64_t kMaxGpus = 1024;
constexpr int64_t kMaxContext = int64_t{1} << 24;
constexpr size_t kMaxOps = 50'000'000;

// A field path such as plan.ops[12].deps, rendered only for error messages.
struct Field {
  const char* base;
  int64_t index = -1;
  const char* key = nullptr;

  std::string str() const {
    std::string path = base;
    if (index >= 0) path += "[" + std::to_string(index) + "]";
    if (key != nullptr) {
      path += ".";
      path += key;
    }
    return path;
  }
};

// A short rendering of a JSON value for "(got ...)".
std::string describe(const json::Value& value) {
  switch (value.type()) {
    case json::Value::Type::Null: return "null";
    case json::Value::Type::Bool: return value.as_bool() ? "true" : "false";
    case json::Value::Type::Number: return json::stringify(value);
    case json::Value::Type::String: {
      const std::string& s = value.as_string();
      return json::stringify(json::Value(s.size() > 40 ? s.substr(0, 40) + "..." : s));
    }
    case json::Value::Type::Array: return "an array";
    case json::Value::Type::Object: return "an object";
  }
  return "a value";
}

const json::Value& require(const json::Value& object, const char* key, const Field& field) {
  const json::Value* value = object.find(key);
  KVR_PLAN_CHECK(value != nullptr, field, "missing");
  return *value;
}

int64_t read_int(const json::Value& value, const Field& field, int64_t min, int64_t max) {
  const bool ok = value.is_number() && std::trunc(value.as_number()) == value.as_number() &&
                  value.as_number() >= static_cast<double>(min) && value.as_number() <= static_cast<double>(max);
  KVR_PLAN_CHECK(ok, field,
                 "expected an integer in " + std::to_string(min) + ".." + std::to_string(max) + " (got " +
                     describe(value) + ")");
  return static_cast<int64_t>(value.as_number());
}

int64_t require_int(const json::Value& object, const char* key, const Field& field, int64_t min, int64_t max) {
  return read_int(require(object, key, field), field, min, max);
}

const std::string& require_string(const json::Value& object, const char* key, const Field& field) {
  const json::Value& value = require(object, key, field);
  KVR_PLAN_CHECK(value.is_string(), field, "expected a string (got " + describe(value) + ")");
  return value.as_string();
}

bool read_bool(const json::Value& value, const Field& field) {
  KVR_PLAN_CHECK(value.is_bool(), field, "expected true or false (got " + describe(value) + ")");
  return value.as_bool();
}

const json::Value::Array& require_array(const json::Value& object, const char* key, const Field& field) {
  const json::Value& value = require(object, key, field);
  KVR_PLAN_CHECK(value.is_array(), field, "expected an array (got " + describe(value) + ")");
  return value.as_array();
}

// Reads a string field that must be one of two names; returns true for the first.
bool require_choice(const json::Value& object, const char* key, const Field& field, const char* first,
                    const char* second, const char* fallback = nullptr) {
  const json::Value* value = object.find(key);
  if (value == nullptr && fallback != nullptr) return std::string(fallback) == first;
  KVR_PLAN_CHECK(value != nullptr, field, "missing");
  const bool ok = value->is_string() && (value->as_string() == first || value->as_string() == second);
  KVR_PLAN_CHECK(ok, field,
                 std::string("expected \"") + first + "\" or \"" + second + "\" (got " + describe(*value) + ")");
  return value->as_string() == first;
}

void check_strategy(const std::string& strategy, const Field& field) {
  const bool known = std::any_of(std::begin(kStrategyNames), std::end(kStrategyNames),
                                 [&](const char* name) { return strategy == name; });
  if (known) return;
  std::string names;
  for (const char* name : kStrategyNames) names += (names.empty() ? "" : ", ") + std::string(name);
  KVR_PLAN_CHECK(false, field, "expected one of " + names + " (got " + describe(json::Value(strategy)) + ")");
}

ModelConfig parse_model(const json::Value& value) {
  const Field field{"plan.model"};
  KVR_PLAN_CHECK(value.is_object(), field, "expected an object (got " + describe(value) + ")");
  auto dim = [&](const char* key, int64_t max) {
    return static_cast<int>(require_int(value, key, Field{"plan.model", -1, key}, 1, max));
  };
  ModelConfig model;
  model.name = require_string(value, "name", Field{"plan.model", -1, "name"});
  model.layers = dim("layers", kMaxLayers);
  model.hidden = dim("hidden", kMaxDimension);
  model.heads = dim("heads", kMaxHeads);
  model.kv_heads = dim("kv_heads", kMaxHeads);
  model.head_dim = dim("head_dim", kMaxHeads);
  model.ffn = dim("ffn", kMaxDimension);
  model.vocab = dim("vocab", kMaxDimension);
  if (const json::Value* bytes = value.find("dtype_bytes")) {
    model.dtype_bytes = static_cast<int>(read_int(*bytes, Field{"plan.model", -1, "dtype_bytes"}, 1, kMaxDtypeBytes));
  }
  model.swiglu = require_choice(value, "mlp", Field{"plan.model", -1, "mlp"}, "swiglu", "gelu");
  model.parallel_block = !require_choice(value, "block", Field{"plan.model", -1, "block"}, "sequential", "parallel");
  model.layernorm = !require_choice(value, "norm", Field{"plan.model", -1, "norm"}, "rmsnorm", "layernorm", "rmsnorm");
  if (const json::Value* tied = value.find("tied_embeddings")) {
    model.tied_embeddings = read_bool(*tied, Field{"plan.model", -1, "tied_embeddings"});
  }
  KVR_PLAN_CHECK(model.heads % model.kv_heads == 0, (Field{"plan.model", -1, "kv_heads"}),
                 "must divide heads (" + std::to_string(model.heads) + "); got " + std::to_string(model.kv_heads));
  // RoPE rotates dimension pairs (i, i + head_dim/2), see MODEL.md.
  KVR_PLAN_CHECK(model.head_dim % 2 == 0, (Field{"plan.model", -1, "head_dim"}),
                 "must be even for rotary embeddings (got " + std::to_string(model.head_dim) + ")");
  return model;
}

// Per-rank token counts (partition, kv_tokens): exactly `gpus` integers in [min, max].
std::vector<int64_t> parse_rank_counts(const json::Value& document, const char* key, const char* base, int gpus,
                                       int64_t min, int64_t max) {
  const json::Value::Array& items = require_array(document, key, Field{base});
  KVR_PLAN_CHECK(items.size() == static_cast<size_t>(gpus), Field{base},
                 "expected " + std::to_string(gpus) + " entries, one per GPU (got " + std::to_string(items.size()) +
                     ")");
  std::vector<int64_t> counts(items.size());
  for (size_t r = 0; r < items.size(); ++r) {
    counts[r] = read_int(items[r], Field{base, static_cast<int64_t>(r)}, min, max);
  }
  return counts;
}

bool parse_compute_name(const std::string& text, ComputeName& name) {
  static constexpr ComputeName kAll[] = {ComputeName::Qkv, ComputeName::Attn, ComputeName::O, ComputeName::Mlp,
                                         ComputeName::LmHead};
  for (const ComputeName candidate : kAll) {
    if (text == compute_name(candidate)) {
      name = candidate;
      return true;
    }
  }
  return false;
}

// What parse_ops needs besides the op itself.
struct PlanShape {
  const Plan& plan;
  std::vector<int64_t> chunk_start;  // per rank
  std::vector<RankLayout> layouts;   // per rank
  bool general = false;              // uses_general_layout(plan.strategy)
};

// The parts of a compute op only tensor-parallel and ring-kv plans have: `shard` and `merge`.
void parse_compute_extras(const json::Value& object, int64_t i, const PlanShape& shape, PlanOp& op) {
  const RankLayout& layout = shape.layouts[static_cast<size_t>(op.rank)];
  const json::Value* shard = object.find("shard");
  op.has_shard = shard != nullptr;
  if (shard != nullptr && op.name != ComputeName::LmHead) {
    const Field field{"plan.ops", i, "shard"};
    KVR_PLAN_CHECK(layout.sharded, field, "a shard in a " + shape.plan.strategy + " plan, whose ranks compute the whole model");
    KVR_PLAN_CHECK(shard->is_object(), field, "expected an object (got " + describe(*shard) + ")");
    const int64_t heads = require_int(*shard, "heads", Field{"plan.ops", i, "shard.heads"}, 0, kMaxHeads);
    const int64_t kv_heads = require_int(*shard, "kv_heads", Field{"plan.ops", i, "shard.kv_heads"}, 0, kMaxHeads);
    const int64_t ffn = require_int(*shard, "ffn", Field{"plan.ops", i, "shard.ffn"}, 0, kMaxDimension);
    const TensorShard& own = layout.shard;
    KVR_PLAN_CHECK(heads == own.heads && kv_heads == own.kv_heads && ffn == own.ffn, field,
                   "heads " + std::to_string(heads) + ", kv_heads " + std::to_string(kv_heads) + ", ffn " +
                       std::to_string(ffn) + ", but rank " + std::to_string(op.rank) + "'s shard has " +
                       std::to_string(own.heads) + ", " + std::to_string(own.kv_heads) + ", " + std::to_string(own.ffn));
  } else if (op.name != ComputeName::LmHead) {
    KVR_PLAN_CHECK(!layout.sharded, (Field{"plan.ops", i, "shard"}),
                   "missing: every layer op of a " + shape.plan.strategy + " plan computes a tensor-parallel shard");
  }
  if (const json::Value* merge = object.find("merge")) op.merge = read_bool(*merge, Field{"plan.ops", i, "merge"});
  KVR_PLAN_CHECK(!op.merge || (is_ring_strategy(shape.plan.strategy) && op.name == ComputeName::Attn),
                 (Field{"plan.ops", i, "merge"}), "only ring-kv and ring-q attn ops merge partial attention");
}

void parse_compute(const json::Value& object, int64_t i, const PlanShape& shape, PlanOp& op) {
  const Plan& plan = shape.plan;
  const json::Value& name = require(object, "name", Field{"plan.ops", i, "name"});
  KVR_PLAN_CHECK(name.is_string() && parse_compute_name(name.as_string(), op.name), (Field{"plan.ops", i, "name"}),
                 "expected qkv, attn, o, mlp or lm_head (got " + describe(name) + ")");
  op.rank = static_cast<int>(require_int(object, "rank", Field{"plan.ops", i, "rank"}, 0, plan.gpus - 1));
  op.tokens = require_int(object, "tokens", Field{"plan.ops", i, "tokens"}, 1, plan.context);
  op.prefix = require_int(object, "prefix", Field{"plan.ops", i, "prefix"}, 0, plan.context - 1);
  op.keys = require_int(object, "keys", Field{"plan.ops", i, "keys"}, 1, plan.context);
  op.causal = read_bool(require(object, "causal", Field{"plan.ops", i, "causal"}), Field{"plan.ops", i, "causal"});
  const json::Value& layer = require(object, "layer", Field{"plan.ops", i, "layer"});

  if (op.name == ComputeName::LmHead) {
    KVR_PLAN_CHECK(layer.is_null(), (Field{"plan.ops", i, "layer"}),
                   "expected null for lm_head (got " + describe(layer) + ")");
    op.layer = -1;
    KVR_PLAN_CHECK(op.rank == plan.last_rank, (Field{"plan.ops", i, "rank"}),
                   "lm_head runs on rank " + std::to_string(op.rank) + ", not on last_rank " +
                       std::to_string(plan.last_rank));
    KVR_PLAN_CHECK(op.tokens == 1, (Field{"plan.ops", i, "tokens"}),
                   "expected 1 for lm_head (got " + std::to_string(op.tokens) + ")");
    KVR_PLAN_CHECK(op.prefix == plan.context - 1, (Field{"plan.ops", i, "prefix"}),
                   "expected context - 1 = " + std::to_string(plan.context - 1) + " for lm_head (got " +
                       std::to_string(op.prefix) + ")");
    KVR_PLAN_CHECK(op.keys == plan.context, (Field{"plan.ops", i, "keys"}),
                   "expected the context " + std::to_string(plan.context) + " for lm_head (got " +
                       std::to_string(op.keys) + ")");
    return;
  }

  op.layer = static_cast<int>(read_int(layer, Field{"plan.ops", i, "layer"}, 0, plan.model.layers - 1));
  parse_compute_extras(object, i, shape, op);
  if (shape.general) {
    // ring-kv's attn steps have their own shapes, checked once the step is known (parse_ops).
    const RankLayout& rank = shape.layouts[static_cast<size_t>(op.rank)];
    if (is_ring_strategy(plan.strategy) && op.name == ComputeName::Attn) return;
    KVR_PLAN_CHECK(op.tokens == rank.row_count(), (Field{"plan.ops", i, "tokens"}),
                   std::to_string(op.tokens) + ", but rank " + std::to_string(op.rank) + " has " +
                       std::to_string(rank.row_count()) + " tokens");
    KVR_PLAN_CHECK(op.prefix == rank.op_prefix, (Field{"plan.ops", i, "prefix"}),
                   "expected " + std::to_string(rank.op_prefix) + " for rank " + std::to_string(op.rank) + " (got " +
                       std::to_string(op.prefix) + ")");
    // attn reads keys [0, keys): every row's causal prefix, inside the rank's cache.
    const int64_t last_row_end = rank.rows.back().end;
    KVR_PLAN_CHECK(op.name != ComputeName::Attn || (op.keys >= last_row_end && op.keys <= rank.cache_extent),
                   (Field{"plan.ops", i, "keys"}),
                   "expected " + std::to_string(last_row_end) + ".." + std::to_string(rank.cache_extent) +
                       " (the rank's last row .. its cache) (got " + std::to_string(op.keys) + ")");
    return;
  }
  if (plan.strategy == "pp-chunked") {
    // A stage runs its own layers over one prompt chunk at a time, causal over the chunks so far.
    const RankLayout& rank = shape.layouts[static_cast<size_t>(op.rank)];
    KVR_PLAN_CHECK(rank.computes_layer(op.layer), (Field{"plan.ops", i, "layer"}),
                   std::to_string(op.layer) + ", but rank " + std::to_string(op.rank) + "'s stage has layers " +
                       std::to_string(rank.first_layer) + ".." + std::to_string(rank.first_layer + rank.layer_count - 1));
    KVR_PLAN_CHECK(op.prefix + op.tokens <= plan.context, (Field{"plan.ops", i, "tokens"}),
                   "the chunk [" + std::to_string(op.prefix) + ", " + std::to_string(op.prefix + op.tokens) +
                       ") ends beyond the context " + std::to_string(plan.context));
    KVR_PLAN_CHECK(op.causal && op.keys == op.prefix + op.tokens, (Field{"plan.ops", i, "keys"}),
                   "expected prefix + tokens = " + std::to_string(op.prefix + op.tokens) + ", causal (got " + std::to_string(op.keys) + ")");
    return;
  }
  const int64_t chunk = plan.partition[static_cast<size_t>(op.rank)];
  const int64_t start = shape.chunk_start[static_cast<size_t>(op.rank)];
  const int64_t held = plan.kv_tokens[static_cast<size_t>(op.rank)];
  KVR_PLAN_CHECK(op.tokens == chunk, (Field{"plan.ops", i, "tokens"}),
                 std::to_string(op.tokens) + ", but rank " + std::to_string(op.rank) + "'s chunk has " +
                     std::to_string(chunk) + " tokens");
  KVR_PLAN_CHECK(op.prefix == start, (Field{"plan.ops", i, "prefix"}),
                 std::to_string(op.prefix) + ", but rank " + std::to_string(op.rank) + "'s chunk starts at " +
                     std::to_string(start));
  KVR_PLAN_CHECK(op.keys >= op.prefix + op.tokens && op.keys <= plan.context, (Field{"plan.ops", i, "keys"}),
                 "expected prefix + tokens .. context = " + std::to_string(op.prefix + op.tokens) + ".." +
                     std::to_string(plan.context) + " (got " + std::to_string(op.keys) + ")");
  // qkv writes positions [prefix, prefix + tokens) into the rank's cache and attn reads `keys`
  // of them: both must lie inside what the rank holds.
  KVR_PLAN_CHECK(op.keys <= held, (Field{"plan.ops", i, "keys"}),
                 std::to_string(op.keys) + " keys, but rank " + std::to_string(op.rank) + " holds K,V of only " +
                     std::to_string(held) + " tokens (plan.kv_tokens)");
}

// Whether [start, end) lies inside one of the rank's row ranges (an empty range always does).
bool inside_rows(const RankLayout& layout, int64_t start, int64_t end) {
  if (start == end) return true;
  for (const TokenRange& range : layout.rows) {
    if (start >= range.start && end <= range.end) return true;
  }
  return false;
}

// A transfer's `ranges`: a non-empty array of ordered, disjoint [start, end) pairs inside the
// context that spans [token_start, token_end); appended to op.ranges. Returns their tokens.
int64_t parse_token_ranges(const json::Value& ranges, const Field& field, const Plan& plan, PlanOp& op) {
  KVR_PLAN_CHECK(ranges.is_array() && !ranges.as_array().empty(), field, "expected a non-empty array of [start, end] pairs");
  int64_t tokens = 0;
  int64_t previous_end = 0;
  for (const json::Value& pair : ranges.as_array()) {
    KVR_PLAN_CHECK(pair.is_array() && pair.as_array().size() == 2, field, "expected [start, end] pairs (got " + describe(pair) + ")");
    const int64_t start = read_int(pair.as_array()[0], field, previous_end, plan.context);
    const int64_t end = read_int(pair.as_array()[1], field, start, plan.context);
    op.ranges.push_back({start, end});
    tokens += end - start;
    previous_end = end;
  }
  KVR_PLAN_CHECK(op.ranges.front().start == op.token_start && op.ranges.back().end == op.token_end, field,
                 "the ranges must span [token_start, token_end)");
  return tokens;
}

// ring-q: the queries of a position's rows (`query`), or the partial attention outputs and fp32
// log-sum-exps of them (`attn-out`), of the shard's heads, over `ranges`.
void parse_ring_q_transfer(const json::Value& object, int64_t i, const PlanShape& shape, PlanOp& op, bool query) {
  const Plan& plan = shape.plan;
  const ModelConfig& m = plan.model;
  const RankLayout& src = shape.layouts[static_cast<size_t>(op.src)];
  const RankLayout& dst = shape.layouts[static_cast<size_t>(op.dst)];
  op.payload_query = query;
  op.payload_attn_out = !query;
  KVR_PLAN_CHECK(op.transfer_name == "send", (Field{"plan.ops", i, "name"}), "queries and partial outputs move in sends (got " + op.transfer_name + ")");
  KVR_PLAN_CHECK(src.shard.first_head == dst.shard.first_head && src.shard.heads == dst.shard.heads, (Field{"plan.ops", i, "dst"}),
                 "rank " + std::to_string(op.src) + " and rank " + std::to_string(op.dst) + " compute different query heads");
  int64_t heads = m.heads;
  if (const json::Value* h = object.find("heads")) heads = read_int(*h, Field{"plan.ops", i, "heads"}, 1, m.heads);
  KVR_PLAN_CHECK(heads == src.shard.heads, (Field{"plan.ops", i, "heads"}),
                 std::to_string(heads) + ", but rank " + std::to_string(op.src) + " computes " + std::to_string(src.shard.heads) + " heads");
  const Field field{"plan.ops", i, "ranges"};
  const json::Value* ranges = object.find("ranges");
  KVR_PLAN_CHECK(ranges != nullptr, field, "expected a non-empty array of [start, end] pairs");
  const int64_t tokens = parse_token_ranges(*ranges, field, plan, op);
  const int64_t per_token = heads * (query ? int64_t{m.head_dim} * m.dtype_bytes : int64_t{m.head_dim} * m.dtype_bytes + 4);
  op.bytes = read_int(require(object, "bytes", Field{"plan.ops", i, "bytes"}), Field{"plan.ops", i, "bytes"}, 0, int64_t{1} << 62);
  KVR_PLAN_CHECK(op.bytes == tokens * per_token, (Field{"plan.ops", i, "bytes"}),
                 std::to_string(op.bytes) + ", not tokens * heads * " + (query ? "head_dim * dtype_bytes" : "(head_dim * dtype_bytes + 4)") +
                     " = " + std::to_string(tokens * per_token));
}

// Transfers of ring-kv and tensor-parallel plans: hidden-state rows (`payload: "hidden"`), or K,V
// of some KV heads (`kv_heads`) and of several token ranges (`ranges`).
void parse_general_transfer(const json::Value& object, int64_t i, const PlanShape& shape, PlanOp& op) {
  const Plan& plan = shape.plan;
  const ModelConfig& m = plan.model;
  const RankLayout& src = shape.layouts[static_cast<size_t>(op.src)];
  const RankLayout& dst = shape.layouts[static_cast<size_t>(op.dst)];
  if (const json::Value* payload = object.find("payload")) {
    const bool ring_q = plan.strategy == "ring-q" && payload->is_string() &&
                        (payload->as_string() == "query" || payload->as_string() == "attn-out");
    if (ring_q) {
      parse_ring_q_transfer(object, i, shape, op, payload->as_string() == "query");
      return;
    }
    KVR_PLAN_CHECK(payload->is_string() && payload->as_string() == "hidden", (Field{"plan.ops", i, "payload"}),
                   "expected \"hidden\" (or in ring-q plans \"query\", \"attn-out\") (got " + describe(*payload) + ")");
    op.payload_hidden = true;
  }
  int64_t tokens = op.token_end - op.token_start;
  int64_t per_token = 0;
  const char* formula = "";
  if (op.payload_hidden) {
    KVR_PLAN_CHECK(src.sharded && dst.sharded, (Field{"plan.ops", i, "payload"}),
                   "hidden-state rows move only between tensor-parallel ranks");
    KVR_PLAN_CHECK(object.find("kv_heads") == nullptr && object.find("ranges") == nullptr, (Field{"plan.ops", i}),
                   "a hidden-state transfer carries no kv_heads or ranges");
    KVR_PLAN_CHECK(op.transfer_name != "send", (Field{"plan.ops", i, "name"}),
                   "hidden-state rows move in collectives: expected allgather or reducescatter (got send)");
    KVR_PLAN_CHECK(inside_rows(src, op.token_start, op.token_end) && inside_rows(dst, op.token_start, op.token_end),
                   (Field{"plan.ops", i, "token_end"}),
                   "rows [" + std::to_string(op.token_start) + ", " + std::to_string(op.token_end) + ") are not rows of both rank " +
                       std::to_string(op.src) + " and rank " + std::to_string(op.dst));
    per_token = int64_t{m.hidden} * m.dtype_bytes;
    formula = "(token_end - token_start) * hidden * dtype_bytes";
  } else {
    KVR_PLAN_CHECK(op.transfer_name != "reducescatter", (Field{"plan.ops", i, "name"}),
                   "a reducescatter sums hidden-state rows; K,V is never summed");
    int64_t kv_heads = m.kv_heads;
    if (const json::Value* heads = object.find("kv_heads")) {
      kv_heads = read_int(*heads, Field{"plan.ops", i, "kv_heads"}, 1, m.kv_heads);
      op.kv_heads = static_cast<int>(kv_heads);
    }
    // Both ends must hold the same KV heads: the copy is of cache rows, head for head.
    const bool same_heads = src.shard.first_kv_head == dst.shard.first_kv_head && src.shard.kv_heads == kv_heads &&
                            dst.shard.kv_heads == kv_heads;
    KVR_PLAN_CHECK(same_heads, (Field{"plan.ops", i, "kv_heads"}),
                   std::to_string(kv_heads) + " KV heads, but rank " + std::to_string(op.src) + " holds " +
                       std::to_string(src.shard.kv_heads) + " from " + std::to_string(src.shard.first_kv_head) +
                       " and rank " + std::to_string(op.dst) + " " + std::to_string(dst.shard.kv_heads) + " from " +
                       std::to_string(dst.shard.first_kv_head));
    if (const json::Value* ranges = object.find("ranges")) tokens = parse_token_ranges(*ranges, Field{"plan.ops", i, "ranges"}, plan, op);
    const int64_t src_extent = src.cache_extent;
    const int64_t dst_extent = dst.cache_extent;
    KVR_PLAN_CHECK(op.token_end <= src_extent && op.token_end <= dst_extent, (Field{"plan.ops", i, "token_end"}),
                   std::to_string(op.token_end) + ", but rank " + std::to_string(op.src) + " caches " +
                       std::to_string(src_extent) + " positions and rank " + std::to_string(op.dst) + " " +
                       std::to_string(dst_extent));
    per_token = 2 * kv_heads * m.head_dim * m.dtype_bytes;
    formula = "tokens * 2 * kv_heads * head_dim * dtype_bytes";
  }
  const int64_t expected_bytes = tokens * per_token;
  op.bytes = read_int(require(object, "bytes", Field{"plan.ops", i, "bytes"}), Field{"plan.ops", i, "bytes"}, 0, int64_t{1} << 62);
  KVR_PLAN_CHECK(op.bytes == expected_bytes, (Field{"plan.ops", i, "bytes"}),
                 std::to_string(op.bytes) + ", not " + formula + " = " + std::to_string(expected_bytes));
}

// ring-kv: the s-th attn op of a rank in a layer is step s, against the K,V block of rank i - s
// (sim/plan/strategies/ring-kv.ts); its shape must be that step's.
void check_ring_steps(Plan& plan) {
  // Ring positions of t ranks each (ring-kv --tp): rank r is position r / t.
  const int t = plan.tp;
  const int p = plan.gpus / t;
  const int64_t parts = 2 * int64_t{p};
  std::vector<int64_t> chunks(static_cast<size_t>(parts), plan.context / parts);
  for (int64_t k = 0; k < plan.context % parts; ++k) chunks[static_cast<size_t>(k)] += 1;
  auto chunk = [&](int k) { return chunks[static_cast<size_t>(k)]; };
  std::vector<int> steps(static_cast<size_t>(plan.gpus) * plan.model.layers, 0);
  for (PlanOp& op : plan.ops) {
    if (op.kind != OpKind::Compute || op.layer < 0) continue;
    int& count = steps[static_cast<size_t>(op.rank) * plan.model.layers + op.layer];
    const int64_t i = op.id;
    if (op.name == ComputeName::O) {
      KVR_PLAN_CHECK(count == p, (Field{"plan.ops", i}),
                     "o on rank " + std::to_string(op.rank) + " after " + std::to_string(count) + " attn steps of layer " +
                         std::to_string(op.layer) + "; ring-kv has " + std::to_string(p));
    }
    if (op.name != ComputeName::Attn) continue;
    const int s = count++;
    KVR_PLAN_CHECK(s < p, (Field{"plan.ops", i}), "more than " + std::to_string(p) + " attn steps in a layer");
    op.ring_step = s;
    const int r = op.rank / t;
    const int j = (r - s + p) % p;
    // ring-kv: r's queries against j's keys; ring-q: j's queries against r's keys.
    const bool pass_q = plan.strategy == "ring-q";
    const int queries = pass_q ? j : r;
    const int holder = pass_q ? r : j;
    const int late = 2 * p - 1 - queries;
    int64_t tokens = chunk(queries) + chunk(late);
    int64_t keys = tokens;
    if (s > 0 && holder < queries) keys = chunk(holder);
    if (s > 0 && holder > queries) {
      tokens = chunk(late);
      keys = chunk(holder) + chunk(2 * p - 1 - holder);
    }
    const bool ok = op.tokens == tokens && op.keys == keys && op.causal == (s == 0) && op.merge == (s > 0) && op.prefix == 0;
    KVR_PLAN_CHECK(ok, (Field{"plan.ops", i}),
                   "attn step " + std::to_string(s) + " of rank " + std::to_string(op.rank) + " is tokens " + std::to_string(tokens) +
                       ", keys " + std::to_string(keys) + ", prefix 0, causal " + (s == 0 ? "true" : "false") +
                       ", merge " + (s > 0 ? "true" : "false") + "; the op differs");
  }
}

// Which partial-sum slot each hidden-state transfer carries: that of the o or mlp op it (through
// earlier transfers of the same collectives) follows. Ambiguity is a malformed plan.
void assign_partial_slots(Plan& plan) {
  for (PlanOp& op : plan.ops) {
    if (op.kind != OpKind::Transfer || !op.payload_hidden) continue;
    int slot = -1;
    for (const int d : op.deps) {
      const PlanOp& dep = plan.ops[static_cast<size_t>(d)];
      int candidate = -1;
      if (dep.kind == OpKind::Compute && (dep.name == ComputeName::O || dep.name == ComputeName::Mlp))
        candidate = partial_slot(dep.name, dep.layer);
      else if (dep.kind == OpKind::Transfer && dep.payload_hidden)
        candidate = dep.partial_slot;
      if (candidate < 0) continue;
      KVR_PLAN_CHECK(slot < 0 || slot == candidate, (Field{"plan.ops", op.id, "deps"}),
                     "the transfer follows the outputs of different ops (o and mlp, or two layers)");
      slot = candidate;
    }
    op.partial_slot = slot;
  }
}

void parse_transfer(const json::Value& object, int64_t i, const PlanShape& shape, PlanOp& op) {
  const Plan& plan = shape.plan;
  const json::Value& name = require(object, "name", Field{"plan.ops", i, "name"});
  const bool known = name.is_string() && (name.as_string() == "send" || name.as_string() == "allgather" ||
                                          name.as_string() == "reducescatter");
  KVR_PLAN_CHECK(known, (Field{"plan.ops", i, "name"}), "expected send, allgather or reducescatter (got " + describe(name) + ")");
  op.transfer_name = name.as_string();
  op.src = static_cast<int>(require_int(object, "src", Field{"plan.ops", i, "src"}, 0, plan.gpus - 1));
  op.dst = static_cast<int>(require_int(object, "dst", Field{"plan.ops", i, "dst"}, 0, plan.gpus - 1));
  KVR_PLAN_CHECK(op.src != op.dst, (Field{"plan.ops", i, "dst"}),
                 "a transfer from rank " + std::to_string(op.src) + " to itself");
  op.layer = static_cast<int>(require_int(object, "layer", Field{"plan.ops", i, "layer"}, 0, plan.model.layers - 1));
  // An empty range is allowed: it moves nothing (tests use it to drop a transfer's data while
  // keeping the op graph).
  op.token_start = require_int(object, "token_start", Field{"plan.ops", i, "token_start"}, 0, plan.context);
  op.token_end = require_int(object, "token_end", Field{"plan.ops", i, "token_end"}, op.token_start, plan.context);
  op.step = -1;
  if (const json::Value* step = object.find("step")) {
    op.step = static_cast<int>(read_int(*step, Field{"plan.ops", i, "step"}, 0, plan.gpus - 1));
  }
  if (shape.general) {
    parse_general_transfer(object, i, shape, op);
    return;
  }
  if (const json::Value* payload = object.find("payload")) {
    // pp-chunked: a chunk's hidden rows from one stage to the next.
    const bool hidden_send = plan.strategy == "pp-chunked" && payload->is_string() && payload->as_string() == "hidden" &&
                             op.transfer_name == "send";
    KVR_PLAN_CHECK(hidden_send, (Field{"plan.ops", i, "payload"}),
                   "only pp-chunked sends hidden-state rows outside collectives (got " + describe(*payload) + " in a " +
                       plan.strategy + " " + op.transfer_name + ")");
    op.payload_hidden = true;
    const int64_t expected = (op.token_end - op.token_start) * int64_t{plan.model.hidden} * plan.model.dtype_bytes;
    op.bytes = read_int(require(object, "bytes", Field{"plan.ops", i, "bytes"}), Field{"plan.ops", i, "bytes"}, 0, int64_t{1} << 62);
    KVR_PLAN_CHECK(op.bytes == expected, (Field{"plan.ops", i, "bytes"}),
                   std::to_string(op.bytes) + ", not (token_end - token_start) * hidden * dtype_bytes = " + std::to_string(expected));
    return;
  }
  KVR_PLAN_CHECK(op.transfer_name != "reducescatter", (Field{"plan.ops", i, "name"}),
                 "reducescatter moves partial sums, which only tensor-parallel plans have");
  const int64_t src_held = plan.kv_tokens[static_cast<size_t>(op.src)];
  const int64_t dst_held = plan.kv_tokens[static_cast<size_t>(op.dst)];
  KVR_PLAN_CHECK(op.token_end <= src_held, (Field{"plan.ops", i, "token_end"}),
                 std::to_string(op.token_end) + ", but source rank " + std::to_string(op.src) +
                     " holds K,V of only " + std::to_string(src_held) + " tokens (plan.kv_tokens)");
  KVR_PLAN_CHECK(op.token_end <= dst_held, (Field{"plan.ops", i, "token_end"}),
                 std::to_string(op.token_end) + ", but destination rank " + std::to_string(op.dst) +
                     " holds K,V of only " + std::to_string(dst_held) + " tokens (plan.kv_tokens)");
  const ModelConfig& m = plan.model;
  // At most 2^24 tokens * 2 * 2^16 * 2^16 * 8 = 2^60: no overflow.
  const int64_t expected_bytes = (op.token_end - op.token_start) * 2 * int64_t{m.kv_heads} * m.head_dim * m.dtype_bytes;
  const json::Value& bytes = require(object, "bytes", Field{"plan.ops", i, "bytes"});
  op.bytes = read_int(bytes, Field{"plan.ops", i, "bytes"}, 0, int64_t{1} << 62);
  KVR_PLAN_CHECK(op.bytes == expected_bytes, (Field{"plan.ops", i, "bytes"}),
                 std::to_string(op.bytes) +
                     ", not (token_end - token_start) * 2 * kv_heads * head_dim * dtype_bytes = " +
                     std::to_string(expected_bytes));
}

void parse_ops(const json::Value& document, Plan& plan) {
  const json::Value::Array& items = require_array(document, "ops", Field{"plan.ops"});
  KVR_PLAN_CHECK(items.size() <= kMaxOps, Field{"plan.ops"},
                 std::to_string(items.size()) + " ops, more than the limit " + std::to_string(kMaxOps));
  PlanShape shape{plan, std::vector<int64_t>(plan.partition.size()), rank_layouts(plan), uses_general_layout(plan.strategy)};
  for (size_t r = 1; r < plan.partition.size(); ++r) {
    shape.chunk_start[r] = shape.chunk_start[r - 1] + plan.partition[r - 1];
  }

  plan.ops.resize(items.size());
  int64_t lm_head = -1;
  for (size_t index = 0; index < items.size(); ++index) {
    const auto i = static_cast<int64_t>(index);
    const json::Value& object = items[index];
    PlanOp& op = plan.ops[index];
    KVR_PLAN_CHECK(object.is_object(), (Field{"plan.ops", i}), "expected an object (got " + describe(object) + ")");
    op.id = static_cast<int>(require_int(object, "id", Field{"plan.ops", i, "id"}, 0, static_cast<int64_t>(kMaxOps)));
    KVR_PLAN_CHECK(op.id == i, (Field{"plan.ops", i, "id"}),
                   "expected " + std::to_string(i) + ", the op's index (got " + std::to_string(op.id) + ")");

    const json::Value::Array& deps = require_array(object, "deps", Field{"plan.ops", i, "deps"});
    op.deps.resize(deps.size());
    for (size_t k = 0; k < deps.size(); ++k) {
      const json::Value& dep = deps[k];
      const bool precedes = dep.is_number() && std::trunc(dep.as_number()) == dep.as_number() &&
                            dep.as_number() >= 0 && dep.as_number() < static_cast<double>(i);
      KVR_PLAN_CHECK(precedes, (Field{"plan.ops", i, "deps"}),
                     "op " + std::to_string(i) + " depends on op " + describe(dep) + ", which does not precede it");
      op.deps[k] = static_cast<int>(dep.as_number());
    }

    const json::Value& kind = require(object, "kind", Field{"plan.ops", i, "kind"});
    if (kind.is_string() && kind.as_string() == "compute") {
      op.kind = OpKind::Compute;
      parse_compute(object, i, shape, op);
      if (op.name == ComputeName::LmHead) {
        KVR_PLAN_CHECK(lm_head < 0, (Field{"plan.ops", i, "name"}),
                       "a second lm_head (the first is op " + std::to_string(lm_head) + ")");
        lm_head = i;
      } else {
        KVR_PLAN_CHECK(lm_head < 0 || op.rank != plan.last_rank, (Field{"plan.ops", i}),
                       std::string(compute_name(op.name)) + " on rank " + std::to_string(op.rank) +
                           " after that rank's lm_head (op " + std::to_string(lm_head) + ")");
      }
    } else if (kind.is_string() && kind.as_string() == "transfer") {
      op.kind = OpKind::Transfer;
      parse_transfer(object, i, shape, op);
    } else {
      KVR_PLAN_CHECK(false, (Field{"plan.ops", i, "kind"}),
                     "expected \"compute\" or \"transfer\" (got " + describe(kind) + ")");
    }
  }
  KVR_PLAN_CHECK(lm_head >= 0, Field{"plan.ops"}, "no lm_head op");
  if (is_ring_strategy(plan.strategy)) check_ring_steps(plan);
  if (shape.general) assign_partial_slots(plan);
}

}  // namespace

const char* compute_name(ComputeName name) {
  switch (name) {
    case ComputeName::Qkv: return "qkv";
    case ComputeName::Attn: return "attn";
    case ComputeName::O: return "o";
    case ComputeName::Mlp: return "mlp";
    case ComputeName::LmHead: return "lm_head";
  }
  return "unknown";
}

int64_t Plan::chunk_start(int rank) const {
  KVR_CHECK(rank >= 0 && static_cast<size_t>(rank) < partition.size(), ErrorCode::InvalidArgument,
            "chunk_start: rank " + std::to_string(rank) + " is not in 0.." +
                std::to_string(static_cast<int64_t>(partition.size()) - 1));
  int64_t start = 0;
  for (int r = 0; r < rank; ++r) start += partition[static_cast<size_t>(r)];
  return start;
}

Plan parse_plan(const json::Value& document) {
  const Field root{"plan"};
  KVR_PLAN_CHECK(document.is_object(), root, "expected an object (got " + describe(document) + ")");
  const json::Value& schema = require(document, "schema", Field{"plan", -1, "schema"});
  KVR_PLAN_CHECK(schema.is_string() && schema.as_string() == kPlanSchema, (Field{"plan", -1, "schema"}),
                 std::string("expected \"") + kPlanSchema + "\" (got " + describe(schema) + ")");

  Plan plan;
  plan.strategy = require_string(document, "strategy", Field{"plan", -1, "strategy"});
  check_strategy(plan.strategy, Field{"plan", -1, "strategy"});
  plan.model = parse_model(require(document, "model", Field{"plan", -1, "model"}));
  plan.gpus = static_cast<int>(require_int(document, "gpus", Field{"plan", -1, "gpus"}, 1, kMaxGpus));
  plan.context = require_int(document, "context", Field{"plan", -1, "context"}, 1, kMaxContext);

  plan.partition = parse_rank_counts(document, "partition", "plan.partition", plan.gpus, 1, kMaxContext);
  if (const json::Value* tp = document.find("tp")) {
    plan.tp = static_cast<int>(read_int(*tp, Field{"plan", -1, "tp"}, 1, plan.gpus));
  }
  // Under tensor parallelism every rank of a group computes the group's tokens (rank_layouts checks).
  // pp-chunked: every stage computes all tokens; ring-kv --tp: a position's tokens on each of its ranks.
  const bool tensor_parallel = plan.strategy == "tp" || plan.strategy == "tp-sp" || plan.strategy == "kvr-tp" ||
                               plan.strategy == "pp-chunked" || (is_ring_strategy(plan.strategy) && plan.tp > 1);
  int64_t total = 0;
  for (const int64_t tokens : plan.partition) total += tokens;
  KVR_PLAN_CHECK(tensor_parallel || total == plan.context, Field{"plan.partition"},
                 "sums to " + std::to_string(total) + ", not the context " + std::to_string(plan.context));
  plan.kv_tokens = parse_rank_counts(document, "kv_tokens", "plan.kv_tokens", plan.gpus, 1, plan.context);

  plan.last_rank =
      static_cast<int>(require_int(document, "last_rank", Field{"plan", -1, "last_rank"}, 0, plan.gpus - 1));
  // The logits come from the hidden state of the last position, which only some ranks have.
  const std::vector<RankLayout> layouts = rank_layouts(plan);
  KVR_PLAN_CHECK(layouts[static_cast<size_t>(plan.last_rank)].holds_row(plan.context - 1), (Field{"plan", -1, "last_rank"}),
                 std::to_string(plan.last_rank) + ", but the last position " + std::to_string(plan.context - 1) +
                     " is not a row of rank " + std::to_string(plan.last_rank));

  parse_ops(document, plan);
  return plan;
}

Plan parse_plan_text(const std::string& text) { return parse_plan(json::parse(text)); }

}  // namespace kvr
