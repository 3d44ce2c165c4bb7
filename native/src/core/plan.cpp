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
constexpr const char* kStrategyNames[] = {"single", "tsp", "tsp-causal", "kvr", "kvr-e", "kvr-s", "kvr-p"};

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
};

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

void parse_transfer(const json::Value& object, int64_t i, const PlanShape& shape, PlanOp& op) {
  const Plan& plan = shape.plan;
  const json::Value& name = require(object, "name", Field{"plan.ops", i, "name"});
  KVR_PLAN_CHECK(name.is_string() && (name.as_string() == "send" || name.as_string() == "allgather"),
                 (Field{"plan.ops", i, "name"}), "expected send or allgather (got " + describe(name) + ")");
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
  op.step = -1;
  if (const json::Value* step = object.find("step")) {
    op.step = static_cast<int>(read_int(*step, Field{"plan.ops", i, "step"}, 0, plan.gpus - 1));
  }
}

void parse_ops(const json::Value& document, Plan& plan) {
  const json::Value::Array& items = require_array(document, "ops", Field{"plan.ops"});
  KVR_PLAN_CHECK(items.size() <= kMaxOps, Field{"plan.ops"},
                 std::to_string(items.size()) + " ops, more than the limit " + std::to_string(kMaxOps));
  PlanShape shape{plan, std::vector<int64_t>(plan.partition.size())};
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
  int64_t total = 0;
  for (const int64_t tokens : plan.partition) total += tokens;
  KVR_PLAN_CHECK(total == plan.context, Field{"plan.partition"},
                 "sums to " + std::to_string(total) + ", not the context " + std::to_string(plan.context));
  plan.kv_tokens = parse_rank_counts(document, "kv_tokens", "plan.kv_tokens", plan.gpus, 1, plan.context);

  plan.last_rank =
      static_cast<int>(require_int(document, "last_rank", Field{"plan", -1, "last_rank"}, 0, plan.gpus - 1));
  // The logits come from the hidden state of the last position, which only its chunk's rank has.
  KVR_PLAN_CHECK(plan.last_rank == plan.gpus - 1, (Field{"plan", -1, "last_rank"}),
                 std::to_string(plan.last_rank) + ", but the last position " + std::to_string(plan.context - 1) +
                     " is in the chunk of rank " + std::to_string(plan.gpus - 1));

  parse_ops(document, plan);
  return plan;
}

Plan parse_plan_text(const std::string& text) { return parse_plan(json::parse(text)); }

}  // namespace kvr
