// The CPU reference backend: fp32, every op runs synchronously inside issue() on the calling
// queue thread. Follows native/MODEL.md exactly so plans can be checked against each other and
// against the CUDA backend.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>
#include <memory>
#include <thread>

#include "cpu_attention.hpp"
#include "cpu_gemm.hpp"
#include "cpu_general_ops.hpp"
#include "cpu_layers.hpp"
#include "cpu_memory.hpp"
#include "cpu_rank_state.hpp"
#include "cpu_weights.hpp"
#include "kvr/backend.hpp"
#include "kvr/error.hpp"
#include "kvr/link_emulation.hpp"
#include "kvr/weights.hpp"

namespace kvr {

namespace {

using cpu::RankState;
using Clock = std::chrono::steady_clock;

const char* architecture() {
#if defined(__x86_64__) || defined(_M_X64)
  return "x86_64";
#elif defined(__aarch64__) || defined(_M_ARM64)
  return "aarch64";
#else
  return "unknown architecture";
#endif
}

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(const BackendOptions& options) : options_(options) {
    // NCCL moves K,V between GPUs; asking the CPU backend for it is a missing capability, not a typo.
    KVR_CHECK(options.transport != "nccl", ErrorCode::NcclUnavailable,
              "NCCL is a GPU transport: the cpu backend moves K,V between rank threads (transport inproc); use --backend cuda");
    KVR_CHECK(options.transport == "auto" || options.transport == "inproc", ErrorCode::InvalidArgument,
              "transport: the cpu backend's transport is inproc (got \"" + options.transport + "\")");
    KVR_CHECK(options.sm_partitions == 0, ErrorCode::InvalidArgument,
              "sm_partitions: the cpu backend has no SMs; ranks are threads (got " +
                  std::to_string(options.sm_partitions) + "; SM partitions need --backend cuda)");
  }

  std::string name() const override { return "cpu"; }
  std::string device() const override {
    const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    return std::string("cpu (") + architecture() + ", " + std::to_string(threads) +
           (threads == 1 ? " thread)" : " threads)");
  }
  std::string transport() const override { return "inproc"; }

  void prepare(const Plan& plan) override;
  void begin_run() override;
  void issue(const PlanOp& op) override;
  void synchronize() override {}  // issue() returns when its op is done
  OpTime op_time(int op_id) const override;
  std::vector<float> last_logits() const override { return logits_; }
  std::vector<float> kv_cache(int rank) const override;

 private:
  RankState& rank_state(int rank);
  cpu::GeneralOps general_ops() { return cpu::GeneralOps{model_, weights_, ranks_, ring_kv_, ring_tp_, ring_q_}; }
  const cpu::LayerWeights& layer_weights(int layer) const;
  void norm(const float* x, float* y, const std::vector<float>& scale, const std::vector<float>& bias,
            int64_t rows) const;

  void run_qkv(const PlanOp& op);
  void run_attn(const PlanOp& op);
  void run_o(const PlanOp& op);
  void run_mlp(const PlanOp& op);
  void run_lm_head(const PlanOp& op);
  void run_transfer(const PlanOp& op);

  BackendOptions options_;
  bool prepared_ = false;
  ModelConfig model_;
  bool general_ = false;  // ring-kv or tensor parallel: cpu_general_ops.cpp runs the ops
  bool ring_kv_ = false;
  int ring_tp_ = 1;
  bool ring_q_ = false;
  cpu::ModelWeights weights_;
  std::vector<RankState> ranks_;
  std::vector<OpTime> op_times_;  // by op id; each op's entry is written only by its own queue
  std::vector<float> logits_;
  Clock::time_point run_start_;
  std::unique_ptr<LinkPacer> pacer_;  // when options_.links is enabled; shared by every channel thread
};

void CpuBackend::prepare(const Plan& plan) {
  const ModelConfig& model = plan.model;
  KVR_CHECK(model.layers > 0 && model.hidden > 0 && model.heads > 0 && model.kv_heads > 0 && model.head_dim > 0 &&
                model.ffn > 0 && model.vocab > 0,
            ErrorCode::InvalidPlan, "the model's sizes must be positive");
  KVR_CHECK(model.heads % model.kv_heads == 0, ErrorCode::InvalidPlan, "heads must be a multiple of kv_heads");
  KVR_CHECK(model.head_dim % 2 == 0, ErrorCode::InvalidPlan, "RoPE needs an even head_dim");
  KVR_CHECK(plan.gpus >= 1 && static_cast<int>(plan.partition.size()) == plan.gpus &&
                static_cast<int>(plan.kv_tokens.size()) == plan.gpus,
            ErrorCode::InvalidPlan, "partition and kv_tokens need one entry per rank");

  const std::vector<RankLayout> layouts = rank_layouts(plan);
  // Each rank keeps an inbox per rank whose reduce-scatters send to it (tensor parallel).
  std::vector<std::vector<int>> senders(static_cast<size_t>(plan.gpus));
  for (const PlanOp& op : plan.ops) {
    if (op.kind != OpKind::Transfer || !op.payload_hidden || op.transfer_name != "reducescatter") continue;
    std::vector<int>& list = senders[static_cast<size_t>(op.dst)];
    if (std::find(list.begin(), list.end(), op.src) == list.end()) list.push_back(op.src);
  }
  for (std::vector<int>& list : senders) std::sort(list.begin(), list.end());

  // Estimate first: a plan that cannot fit fails here with sizes, not halfway through allocating.
  double needed = cpu::weight_bytes(model) + sizeof(float) * static_cast<double>(model.vocab);
  for (int r = 0; r < plan.gpus; ++r) {
    const RankLayout& layout = layouts[static_cast<size_t>(r)];
    needed += cpu::rank_state_bytes(model, layout, senders[static_cast<size_t>(r)]);
    // ring-q: visiting queries, partial outputs (two layers) and the returned ones (ring-q buffers below).
    const double q_width = static_cast<double>(layout.shard.heads) * (model.head_dim + 1);
    if (plan.strategy == "ring-q") needed += sizeof(float) * q_width * (3.0 * plan.context + plan.gpus * static_cast<double>(layout.row_count()));
  }
  cpu::check_fits_in_memory(needed);

  // Checked before the allocations: a missing route is a mistake in the request, found at once.
  if (options_.links.enabled()) check_link_routes(options_.links, plan);

  prepared_ = false;
  pacer_.reset();
  ranks_.clear();
  weights_ = cpu::ModelWeights();
  model_ = model;
  general_ = uses_general_layout(plan.strategy);
  ring_kv_ = is_ring_strategy(plan.strategy);
  ring_q_ = plan.strategy == "ring-q";
  ring_tp_ = ring_kv_ ? plan.tp : 1;
  weights_ = cpu::generate_weights(model, options_.seed);
  ranks_.reserve(static_cast<size_t>(plan.gpus));
  for (int r = 0; r < plan.gpus; ++r) {
    const RankLayout& layout = layouts[static_cast<size_t>(r)];
    const int64_t tokens = layout.row_count();
    const int64_t kv_tokens = layout.cache_extent;
    KVR_CHECK(tokens > 0 && kv_tokens > 0, ErrorCode::InvalidPlan, "partition and kv_tokens must be positive");
    // The qkv op writes the rows' own K,V into the rank's cache at their positions.
    KVR_CHECK(layout.rows.back().end <= kv_tokens, ErrorCode::InvalidPlan,
              "kv_tokens[" + std::to_string(r) + "] = " + std::to_string(kv_tokens) +
                  " does not cover the rank's chunk, which ends at " + std::to_string(layout.rows.back().end));
    ranks_.push_back(cpu::make_rank_state(model, layout, plan.gpus, senders[static_cast<size_t>(r)]));
    if (ring_q_) {
      cpu::RankState& state = ranks_.back();
      const int64_t heads = layout.shard.heads;
      const int64_t q_width = heads * model.head_dim;
      state.visiting_q = cpu::allocate_floats(plan.context * q_width, "visiting queries");
      state.partial_out = cpu::allocate_floats(2 * plan.context * q_width, "partial attention outputs");
      state.partial_lse = cpu::allocate_floats(2 * plan.context * heads, "attention statistics");
      state.returned_out = cpu::allocate_floats(plan.gpus * tokens * q_width, "returned attention outputs");
      state.returned_lse = cpu::allocate_floats(plan.gpus * tokens * heads, "attention statistics");
    }
  }
  op_times_.assign(plan.ops.size(), OpTime{});
  logits_ = cpu::allocate_floats(model.vocab, "the logits");
  if (options_.links.enabled()) pacer_ = std::make_unique<LinkPacer>(options_.links);
  prepared_ = true;
}

void CpuBackend::begin_run() {
  KVR_CHECK(prepared_, ErrorCode::Internal, "begin_run before prepare");
  const int64_t d = model_.hidden;
  for (RankState& state : ranks_) {
    int64_t row = 0;
    for (const TokenRange& range : state.layout.rows) {
      for (int64_t position = range.start; position < range.end; ++position, ++row) {
        const int64_t token = token_id(options_.seed, position, model_.vocab);
        std::memcpy(state.hidden.data() + row * d, weights_.embedding.data() + token * d, sizeof(float) * d);
      }
    }
    // A transfer the plan forgot then shows up as a wrong result, not as last run's values.
    std::fill(state.kv_cache.begin(), state.kv_cache.end(), 0.0f);
    std::fill(state.visiting_q.begin(), state.visiting_q.end(), 0.0f);
    std::fill(state.returned_lse.begin(), state.returned_lse.end(), -std::numeric_limits<float>::infinity());
    for (cpu::PartialSlot& slot : state.partial.slots) {
      std::fill(slot.own.begin(), slot.own.end(), 0.0f);
      std::fill(slot.reduced.begin(), slot.reduced.end(), 0.0f);
      std::fill(slot.gathered.begin(), slot.gathered.end(), 0);
      for (std::vector<float>& inbox : slot.inbox) std::fill(inbox.begin(), inbox.end(), 0.0f);
    }
  }
  std::fill(logits_.begin(), logits_.end(), 0.0f);
  std::fill(op_times_.begin(), op_times_.end(), OpTime{});
  run_start_ = Clock::now();
}

void CpuBackend::issue(const PlanOp& op) {
  KVR_CHECK(prepared_, ErrorCode::Internal, "issue before prepare");
  KVR_CHECK(op.id >= 0 && op.id < static_cast<int>(op_times_.size()), ErrorCode::Internal,
            "op id " + std::to_string(op.id) + " is not in the prepared plan");
  const Clock::time_point start = Clock::now();
  if (op.kind == OpKind::Transfer) {
    run_transfer(op);
  } else if (general_) {
    cpu::GeneralOps ops = general_ops();
    switch (op.name) {
      case ComputeName::Qkv: ops.qkv(op); break;
      case ComputeName::Attn: ops.attn(op); break;
      case ComputeName::O: ops.o(op); break;
      case ComputeName::Mlp: ops.mlp(op); break;
      case ComputeName::LmHead: ops.lm_head(op, logits_); break;
    }
  } else {
    switch (op.name) {
      case ComputeName::Qkv: run_qkv(op); break;
      case ComputeName::Attn: run_attn(op); break;
      case ComputeName::O: run_o(op); break;
      case ComputeName::Mlp: run_mlp(op); break;
      case ComputeName::LmHead: run_lm_head(op); break;
    }
  }
  const Clock::time_point end = Clock::now();
  OpTime& time = op_times_[static_cast<size_t>(op.id)];
  time.start_s = std::chrono::duration<double>(start - run_start_).count();
  time.end_s = std::chrono::duration<double>(end - run_start_).count();
}

OpTime CpuBackend::op_time(int op_id) const {
  KVR_CHECK(op_id >= 0 && op_id < static_cast<int>(op_times_.size()), ErrorCode::InvalidArgument,
            "op id " + std::to_string(op_id) + " is not in the prepared plan");
  return op_times_[static_cast<size_t>(op_id)];
}

std::vector<float> CpuBackend::kv_cache(int rank) const {
  KVR_CHECK(rank >= 0 && rank < static_cast<int>(ranks_.size()), ErrorCode::InvalidArgument,
            "rank " + std::to_string(rank) + " is not in the prepared plan");
  const RankState& state = ranks_[static_cast<size_t>(rank)];
  const std::vector<TokenRange>& held = state.layout.held;
  if (held.size() == 1 && held[0].start == 0 && held[0].end == state.kv_tokens) return state.kv_cache;
  // Only the held positions (ring-kv: the rank's own chunks), layer by layer, in token order.
  const int64_t per_position = state.kv_floats_per_position;
  std::vector<float> out;
  for (int layer = 0; layer < model_.layers; ++layer) {
    const float* cache = state.kv_cache.data() + layer * state.kv_tokens * per_position;
    for (const TokenRange& range : held)
      out.insert(out.end(), cache + range.start * per_position, cache + range.end * per_position);
  }
  return out;
}

RankState& CpuBackend::rank_state(int rank) {
  KVR_CHECK(rank >= 0 && rank < static_cast<int>(ranks_.size()), ErrorCode::Internal,
            "rank " + std::to_string(rank) + " is not in the prepared plan");
  return ranks_[static_cast<size_t>(rank)];
}

const cpu::LayerWeights& CpuBackend::layer_weights(int layer) const {
  KVR_CHECK(layer >= 0 && layer < model_.layers, ErrorCode::Internal,
            "layer " + std::to_string(layer) + " is not in the model");
  return weights_.layers[static_cast<size_t>(layer)];
}

void CpuBackend::norm(const float* x, float* y, const std::vector<float>& scale, const std::vector<float>& bias,
                      int64_t rows) const {
  if (model_.layernorm)
    cpu::layer_norm(x, y, scale.data(), bias.data(), rows, model_.hidden);
  else
    cpu::rms_norm(x, y, scale.data(), rows, model_.hidden);
}

// The rows a compute op works on: its chunk [prefix, prefix + tokens), inside the rank's rows (the
// whole of them, except pp-chunked's stages, which run every prompt chunk in turn over all C rows),
// and a layer the rank computes.
struct OpRows {
  int64_t first = 0;  // row index of the op's first token
  int64_t count = 0;  // rows
};

OpRows op_rows(const PlanOp& op, const RankState& state) {
  const int64_t first = op.prefix - state.first_position;
  KVR_CHECK(first >= 0 && op.tokens >= 1 && first + op.tokens <= state.tokens && state.layout.computes_layer(op.layer),
            ErrorCode::Internal,
            std::string(compute_name(op.name)) + " op " + std::to_string(op.id) + " does not match its rank's rows and layers");
  return {first, op.tokens};
}

void CpuBackend::run_qkv(const PlanOp& op) {
  RankState& state = rank_state(op.rank);
  const OpRows rows = op_rows(op, state);
  const cpu::LayerWeights& w = layer_weights(op.layer);
  KVR_CHECK(op.prefix + rows.count <= state.kv_tokens, ErrorCode::Internal,
            "qkv op " + std::to_string(op.id) + ": the rank's K,V cache does not hold its own chunk");
  const int64_t c = rows.count;
  const int64_t d = model_.hidden;
  const int64_t width = cpu::qkv_width(model_);
  const int hd = model_.head_dim;
  float* normed = state.normed.data() + rows.first * d;
  float* wide = state.wide.data() + rows.first * width;
  norm(state.hidden.data() + rows.first * d, normed, w.attn_norm_scale, w.attn_norm_bias, c);
  cpu::gemm(normed, d, w.wqkv.data(), width, wide, width, c, width, d);

  const int64_t q_width = static_cast<int64_t>(model_.heads) * hd;
  const int64_t kv_width = static_cast<int64_t>(model_.kv_heads) * hd;
  for (int64_t i = 0; i < c; ++i) {
    const int64_t position = op.prefix + i;
    const float* cos = state.rope.cos_at(position);
    const float* sin = state.rope.sin_at(position);
    const float* row = wide + i * width;
    float* q = state.q.data() + (rows.first + i) * q_width;
    std::memcpy(q, row, sizeof(float) * q_width);
    for (int head = 0; head < model_.heads; ++head) cpu::apply_rope(q + head * hd, cos, sin, hd / 2);
    float* cached = state.kv_row(op.layer, position);  // [k heads | v heads]
    std::memcpy(cached, row + q_width, sizeof(float) * 2 * kv_width);
    for (int head = 0; head < model_.kv_heads; ++head) cpu::apply_rope(cached + head * hd, cos, sin, hd / 2);
  }
}

void CpuBackend::run_attn(const PlanOp& op) {
  RankState& state = rank_state(op.rank);
  const OpRows rows = op_rows(op, state);
  KVR_CHECK(op.keys <= state.kv_tokens, ErrorCode::Internal,
            "attn op " + std::to_string(op.id) + " attends " + std::to_string(op.keys) + " keys but rank " +
                std::to_string(op.rank) + " caches " + std::to_string(state.kv_tokens));
  KVR_CHECK(op.keys >= op.prefix + rows.count, ErrorCode::Internal,
            "attn op " + std::to_string(op.id) + " attends fewer keys than its last query position");
  layer_weights(op.layer);  // checks the layer
  const int64_t q_width = static_cast<int64_t>(model_.heads) * model_.head_dim;
  cpu::AttentionShape shape;
  shape.heads = model_.heads;
  shape.kv_heads = model_.kv_heads;
  shape.head_dim = model_.head_dim;
  shape.queries = rows.count;
  shape.first_position = op.prefix;
  shape.keys = op.keys;
  shape.causal = op.causal;
  cpu::attention(shape, state.q.data() + rows.first * q_width, state.kv_layer(op.layer),
                 state.attention.data() + rows.first * q_width, state.attention_scratch.data(), state.kv_tokens);
}

void CpuBackend::run_o(const PlanOp& op) {
  RankState& state = rank_state(op.rank);
  const OpRows rows = op_rows(op, state);
  const cpu::LayerWeights& w = layer_weights(op.layer);
  const int64_t c = rows.count;
  const int64_t d = model_.hidden;
  const int64_t attention_width = static_cast<int64_t>(model_.heads) * model_.head_dim;
  float* out = state.o_out.data() + rows.first * d;
  cpu::gemm(state.attention.data() + rows.first * attention_width, attention_width, w.wo.data(), d, out, d, c, d,
            attention_width);
  if (!model_.parallel_block) cpu::add_in_place(state.hidden.data() + rows.first * d, out, c * d);
}

void CpuBackend::run_mlp(const PlanOp& op) {
  RankState& state = rank_state(op.rank);
  const OpRows rows = op_rows(op, state);
  const cpu::LayerWeights& w = layer_weights(op.layer);
  const int64_t c = rows.count;
  const int64_t d = model_.hidden;
  const int64_t f = model_.ffn;
  const int64_t width = cpu::mlp_width(model_);
  float* hidden = state.hidden.data() + rows.first * d;
  float* normed = state.normed.data() + rows.first * d;
  float* wide = state.wide.data() + rows.first * width;
  float* mlp_out = state.mlp_out.data() + rows.first * d;
  // A parallel block feeds the MLP the qkv op's norm output; a sequential one norms h again.
  if (!model_.parallel_block) norm(hidden, normed, w.mlp_norm_scale, w.mlp_norm_bias, c);
  cpu::gemm(normed, d, w.w_gate_up.data(), width, wide, width, c, width, d);
  if (model_.swiglu)
    cpu::swiglu_in_place(wide, c, f, width);
  else
    cpu::gelu_in_place(wide, c, f, width);
  cpu::gemm(wide, width, w.w_down.data(), d, mlp_out, d, c, d, f);
  if (model_.parallel_block)
    cpu::add_sum_in_place(hidden, state.o_out.data() + rows.first * d, mlp_out, c * d);
  else
    cpu::add_in_place(hidden, mlp_out, c * d);
}

void CpuBackend::run_lm_head(const PlanOp& op) {
  RankState& state = rank_state(op.rank);
  const int64_t row = op.prefix - state.first_position;  // the op's prefix is the last position, C - 1
  KVR_CHECK(row >= 0 && row < state.tokens, ErrorCode::Internal,
            "lm_head op " + std::to_string(op.id) + ": position " + std::to_string(op.prefix) +
                " is not in rank " + std::to_string(op.rank) + "'s chunk");
  const int64_t d = model_.hidden;
  float* x = state.normed.data();  // row 0 is free: every layer is done
  norm(state.hidden.data() + row * d, x, weights_.final_norm_scale, weights_.final_norm_bias, 1);
  const float* output = weights_.output_matrix();
  for (int64_t v = 0; v < model_.vocab; ++v) logits_[static_cast<size_t>(v)] = cpu::dot(x, output + v * d, d);
}

void CpuBackend::run_transfer(const PlanOp& op) {
  RankState& source = rank_state(op.src);
  RankState& destination = rank_state(op.dst);
  layer_weights(op.layer);  // checks the layer
  KVR_CHECK(op.token_start >= 0 && op.token_start <= op.token_end && op.token_end <= source.kv_tokens &&
                op.token_end <= destination.kv_tokens,
            ErrorCode::Internal,
            "transfer op " + std::to_string(op.id) + ": tokens [" + std::to_string(op.token_start) + ", " +
                std::to_string(op.token_end) + ") are not in both ranks' K,V caches");
  // The emulated link delivers first; the copy itself then takes microseconds.
  if (pacer_) pacer_->transfer(op.src, op.dst, static_cast<double>(op.bytes));
  if (general_) {
    general_ops().transfer(op);
    return;
  }
  if (op.payload_hidden) {
    // pp-chunked: the chunk's hidden rows move to the next stage (every stage holds all C rows).
    const int64_t d = model_.hidden;
    std::memcpy(destination.hidden.data() + (op.token_start - destination.first_position) * d,
                source.hidden.data() + (op.token_start - source.first_position) * d,
                sizeof(float) * (op.token_end - op.token_start) * d);
    return;
  }
  // A layer's cache rows are contiguous over positions: one copy.
  const int64_t count = (op.token_end - op.token_start) * source.kv_floats_per_position;
  std::memcpy(destination.kv_row(op.layer, op.token_start), source.kv_row(op.layer, op.token_start),
              sizeof(float) * count);
}

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const BackendOptions& options) {
  return std::make_unique<CpuBackend>(options);
}

}  // namespace kvr
