#include "cpu_general_ops.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "cpu_gemm.hpp"
#include "cpu_layers.hpp"
#include "kvr/error.hpp"

namespace kvr::cpu {

namespace {

// Positions of a rank's rows, row by row.
std::vector<int64_t> row_positions(const RankLayout& layout) {
  std::vector<int64_t> positions;
  positions.reserve(static_cast<size_t>(layout.row_count()));
  for (const TokenRange& range : layout.rows)
    for (int64_t t = range.start; t < range.end; ++t) positions.push_back(t);
  return positions;
}

}  // namespace

const LayerWeights& GeneralOps::layer(const PlanOp& op) const {
  KVR_CHECK(op.layer >= 0 && op.layer < model.layers, ErrorCode::Internal,
            "op " + std::to_string(op.id) + ": layer " + std::to_string(op.layer) + " is not in the model");
  return weights.layers[static_cast<size_t>(op.layer)];
}

RankState& GeneralOps::rank(int r) {
  KVR_CHECK(r >= 0 && r < static_cast<int>(ranks.size()), ErrorCode::Internal,
            "rank " + std::to_string(r) + " is not in the prepared plan");
  return ranks[static_cast<size_t>(r)];
}

void GeneralOps::norm(const float* x, float* y, const std::vector<float>& scale, const std::vector<float>& bias,
                      int64_t rows) const {
  if (model.layernorm)
    layer_norm(x, y, scale.data(), bias.data(), rows, model.hidden);
  else
    rms_norm(x, y, scale.data(), rows, model.hidden);
}

// Columns of the shard's heads and KV heads of Wqkv; the pending all-reduced MLP output of the
// previous layer is added to h first (tensor parallel).
void GeneralOps::qkv(const PlanOp& op) {
  RankState& s = rank(op.rank);
  const TensorShard& shard = s.layout.shard;
  const LayerWeights& w = layer(op);
  const int64_t c = s.tokens;
  const int64_t d = model.hidden;
  const int hd = model.head_dim;
  const int64_t width = qkv_width(model);
  if (s.layout.sharded && op.layer > 0) s.partial.add_value_to(partial_slot(ComputeName::Mlp, op.layer - 1), 0, c, s.hidden.data());
  norm(s.hidden.data(), s.normed.data(), w.attn_norm_scale, w.attn_norm_bias, c);
  const int64_t q_width = static_cast<int64_t>(shard.heads) * hd;
  const int64_t kv_width = static_cast<int64_t>(shard.kv_heads) * hd;
  const float* wq = w.wqkv.data() + static_cast<int64_t>(shard.first_head) * hd;
  const float* wk = w.wqkv.data() + static_cast<int64_t>(model.heads + shard.first_kv_head) * hd;
  const float* wv = w.wqkv.data() + static_cast<int64_t>(model.heads + model.kv_heads + shard.first_kv_head) * hd;
  gemm(s.normed.data(), d, wq, width, s.q.data(), q_width, c, q_width, d);
  gemm(s.normed.data(), d, wk, width, s.wide.data(), 2 * kv_width, c, kv_width, d);
  gemm(s.normed.data(), d, wv, width, s.wide.data() + kv_width, 2 * kv_width, c, kv_width, d);
  const std::vector<int64_t> positions = row_positions(s.layout);
  for (int64_t i = 0; i < c; ++i) {
    const int64_t position = positions[static_cast<size_t>(i)];
    const float* cos = s.rope.cos_at(position);
    const float* sin = s.rope.sin_at(position);
    float* q = s.q.data() + i * q_width;
    for (int head = 0; head < shard.heads; ++head) apply_rope(q + head * hd, cos, sin, hd / 2);
    float* cached = s.kv_row(op.layer, position);  // [k heads | v heads] of the shard
    std::memcpy(cached, s.wide.data() + i * 2 * kv_width, sizeof(float) * 2 * kv_width);
    for (int head = 0; head < shard.kv_heads; ++head) apply_rope(cached + head * hd, cos, sin, hd / 2);
  }
}

// Causal attention of every row and head of the shard over a set of key ranges: [0, keys) or,
// for a ring-kv step, the K,V block of rank i - s. A merging step folds its softmax into the
// running output with the log-sum-exp of both (online softmax).
void GeneralOps::attn(const PlanOp& op) {
  if (ring_q && op.ring_step > 0) {
    attn_visiting(op);
    return;
  }
  RankState& s = rank(op.rank);
  const TensorShard& shard = s.layout.shard;
  layer(op);  // checks the layer
  const int g = model.heads / model.kv_heads;
  const int hd = model.head_dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const float minus_infinity = -std::numeric_limits<float>::infinity();
  std::vector<TokenRange> keys;
  if (ring_kv) {
    // Position k - s, same shard: rank r - s t (mod p).
    const int p = static_cast<int>(ranks.size());
    keys = rank(((op.rank - op.ring_step * ring_tp) % p + p) % p).layout.rows;
  } else {
    keys = {{0, op.keys}};
  }
  for (const TokenRange& range : keys) {
    KVR_CHECK(range.end <= s.kv_tokens, ErrorCode::Internal,
              "attn op " + std::to_string(op.id) + " reads keys beyond rank " + std::to_string(op.rank) + "'s cache");
  }
  const int64_t q_width = static_cast<int64_t>(shard.heads) * hd;
  const int64_t kv_stride = s.kv_floats_per_position;
  const std::vector<int64_t> positions = row_positions(s.layout);
  const float* layer_kv = s.kv_layer(op.layer);
  std::vector<float> output(static_cast<size_t>(hd));
  for (int64_t i = 0; i < s.tokens; ++i) {
    const int64_t t = positions[static_cast<size_t>(i)];
    for (int head = 0; head < shard.heads; ++head) {
      const int kv_head = (shard.first_head + head) / g - shard.first_kv_head;
      const float* q = s.q.data() + i * q_width + static_cast<int64_t>(head) * hd;
      float* out = s.attention.data() + i * q_width + static_cast<int64_t>(head) * hd;
      float& lse = s.lse[static_cast<size_t>(i * shard.heads + head)];
      // Scores of the visible keys s <= t, in key order.
      int64_t n = 0;
      float maximum = minus_infinity;
      for (const TokenRange& range : keys) {
        for (int64_t key = range.start; key < std::min(range.end, t + 1); ++key) {
          const float score = dot(q, layer_kv + key * kv_stride + static_cast<int64_t>(kv_head) * hd, hd) * scale;
          s.key_scores[static_cast<size_t>(n++)] = score;
          maximum = std::max(maximum, score);
        }
      }
      if (n == 0) {
        if (!op.merge) {
          std::fill(out, out + hd, 0.0f);
          lse = minus_infinity;
        }
        continue;
      }
      std::fill(output.begin(), output.end(), 0.0f);
      float sum = 0;
      n = 0;
      for (const TokenRange& range : keys) {
        for (int64_t key = range.start; key < std::min(range.end, t + 1); ++key) {
          const float weight = std::exp(s.key_scores[static_cast<size_t>(n++)] - maximum);
          sum += weight;
          const float* v = layer_kv + key * kv_stride + static_cast<int64_t>(shard.kv_heads + kv_head) * hd;
          for (int k = 0; k < hd; ++k) output[static_cast<size_t>(k)] += weight * v[k];
        }
      }
      const float step_lse = maximum + std::log(sum);
      if (!op.merge || lse == minus_infinity) {
        for (int k = 0; k < hd; ++k) out[k] = output[static_cast<size_t>(k)] / sum;
        lse = step_lse;
        continue;
      }
      const float top = std::max(lse, step_lse);
      const float merged = top + std::log(std::exp(lse - top) + std::exp(step_lse - top));
      const float keep = std::exp(lse - merged);
      const float add = std::exp(step_lse - merged) / sum;
      for (int k = 0; k < hd; ++k) out[k] = out[k] * keep + output[static_cast<size_t>(k)] * add;
      lse = merged;
    }
  }
}

// ring-q step s > 0: the queries of position i - s (visiting, by position) against this rank's own
// K,V, causal; the partial output and its log-sum-exp are kept by layer parity for the return.
void GeneralOps::attn_visiting(const PlanOp& op) {
  RankState& s = rank(op.rank);
  const TensorShard& shard = s.layout.shard;
  layer(op);  // checks the layer
  const int p = static_cast<int>(ranks.size());
  const RankLayout& owner = rank(((op.rank - op.ring_step * ring_tp) % p + p) % p).layout;
  const int g = model.heads / model.kv_heads;
  const int hd = model.head_dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const float minus_infinity = -std::numeric_limits<float>::infinity();
  const int64_t q_width = static_cast<int64_t>(shard.heads) * hd;
  const int64_t kv_stride = s.kv_floats_per_position;
  const float* layer_kv = s.kv_layer(op.layer);
  const int64_t context = s.kv_tokens;
  float* out_base = s.partial_out.data() + (op.layer % 2) * context * q_width;
  float* lse_base = s.partial_lse.data() + (op.layer % 2) * context * shard.heads;
  std::vector<float> output(static_cast<size_t>(hd));
  for (const int64_t t : row_positions(owner)) {
    for (int head = 0; head < shard.heads; ++head) {
      const int kv_head = (shard.first_head + head) / g - shard.first_kv_head;
      const float* q = s.visiting_q.data() + t * q_width + static_cast<int64_t>(head) * hd;
      float* out = out_base + t * q_width + static_cast<int64_t>(head) * hd;
      float& lse = lse_base[t * shard.heads + head];
      int64_t n = 0;
      float maximum = minus_infinity;
      for (const TokenRange& range : s.layout.rows) {
        for (int64_t key = range.start; key < std::min(range.end, t + 1); ++key) {
          const float score = dot(q, layer_kv + key * kv_stride + static_cast<int64_t>(kv_head) * hd, hd) * scale;
          s.key_scores[static_cast<size_t>(n++)] = score;
          maximum = std::max(maximum, score);
        }
      }
      std::fill(out, out + hd, 0.0f);
      lse = minus_infinity;
      if (n == 0) continue;
      std::fill(output.begin(), output.end(), 0.0f);
      float sum = 0;
      n = 0;
      for (const TokenRange& range : s.layout.rows) {
        for (int64_t key = range.start; key < std::min(range.end, t + 1); ++key) {
          const float weight = std::exp(s.key_scores[static_cast<size_t>(n++)] - maximum);
          sum += weight;
          const float* v = layer_kv + key * kv_stride + static_cast<int64_t>(shard.kv_heads + kv_head) * hd;
          for (int k = 0; k < hd; ++k) output[static_cast<size_t>(k)] += weight * v[k];
        }
      }
      for (int k = 0; k < hd; ++k) out[k] = output[static_cast<size_t>(k)] / sum;
      lse = maximum + std::log(sum);
    }
  }
}

// ring-q, before o: the partial outputs returned by the other positions, merged into the step-0
// output in a fixed order (step 1, 2, ...: runs are bit-identical), then forgotten.
void GeneralOps::merge_returned(const PlanOp& op) {
  RankState& s = rank(op.rank);
  const int heads = s.layout.shard.heads;
  const int hd = model.head_dim;
  const int64_t q_width = static_cast<int64_t>(heads) * hd;
  const int p = static_cast<int>(ranks.size());
  const float minus_infinity = -std::numeric_limits<float>::infinity();
  for (int step = 1; step * ring_tp < p; ++step) {
    const int source = (op.rank + step * ring_tp) % p;
    float* returned_out = s.returned_out.data() + static_cast<int64_t>(source) * s.tokens * q_width;
    float* returned_lse = s.returned_lse.data() + static_cast<int64_t>(source) * s.tokens * heads;
    for (int64_t i = 0; i < s.tokens; ++i) {
      for (int head = 0; head < heads; ++head) {
        float& other = returned_lse[i * heads + head];
        if (other == minus_infinity) continue;
        float& lse = s.lse[static_cast<size_t>(i * heads + head)];
        float* out = s.attention.data() + i * q_width + static_cast<int64_t>(head) * hd;
        const float* add = returned_out + i * q_width + static_cast<int64_t>(head) * hd;
        if (lse == minus_infinity) {
          std::copy(add, add + hd, out);
          lse = other;
        } else {
          const float top = std::max(lse, other);
          const float merged = top + std::log(std::exp(lse - top) + std::exp(other - top));
          const float keep = std::exp(lse - merged);
          const float weight = std::exp(other - merged);
          for (int k = 0; k < hd; ++k) out[k] = out[k] * keep + add[k] * weight;
          lse = merged;
        }
        other = minus_infinity;
      }
    }
  }
}

// ring-q transfers: queries of the ranges' positions (the sender's own rows, or ones visiting it)
// into the receiver's visiting queries; or the partial outputs the sender computed for them into
// the receiver's (their owner's) returned rows from that sender.
void GeneralOps::transfer_ring_q(const PlanOp& op) {
  RankState& source = rank(op.src);
  RankState& destination = rank(op.dst);
  const int heads = source.layout.shard.heads;
  const int64_t q_width = static_cast<int64_t>(heads) * model.head_dim;
  const int64_t context = source.kv_tokens;
  for (const TokenRange& range : op.ranges) {
    for (int64_t t = range.start; t < range.end; ++t) {
      if (op.payload_query) {
        const int64_t row = source.layout.row_of(t);
        const float* from = row >= 0 ? source.q.data() + row * q_width : source.visiting_q.data() + t * q_width;
        std::copy(from, from + q_width, destination.visiting_q.data() + t * q_width);
        continue;
      }
      const int64_t row = destination.layout.row_of(t);
      KVR_CHECK(row >= 0, ErrorCode::Internal, "transfer op " + std::to_string(op.id) + ": position not a row of its receiver");
      const int64_t parity = op.layer % 2;
      const float* out = source.partial_out.data() + (parity * context + t) * q_width;
      const float* lse = source.partial_lse.data() + (parity * context + t) * heads;
      const int64_t slot = static_cast<int64_t>(op.src) * destination.tokens + row;
      std::copy(out, out + q_width, destination.returned_out.data() + slot * q_width);
      std::copy(lse, lse + heads, destination.returned_lse.data() + slot * heads);
    }
  }
}

// The shard's heads times their rows of Wo: the whole projection, or a partial sum (tp).
void GeneralOps::o(const PlanOp& op) {
  RankState& s = rank(op.rank);
  if (ring_q) merge_returned(op);
  const TensorShard& shard = s.layout.shard;
  const LayerWeights& w = layer(op);
  const int64_t c = s.tokens;
  const int64_t d = model.hidden;
  const int64_t q_width = static_cast<int64_t>(shard.heads) * model.head_dim;
  const float* wo = w.wo.data() + static_cast<int64_t>(shard.first_head) * model.head_dim * d;
  if (s.layout.sharded) {
    const int slot = partial_slot(ComputeName::O, op.layer);
    gemm(s.attention.data(), q_width, wo, d, s.partial.slots[static_cast<size_t>(slot)].own.data(), d, c, d, q_width);
    s.partial.restart(slot);
    return;
  }
  gemm(s.attention.data(), q_width, wo, d, s.o_out.data(), d, c, d, q_width);
  if (!model.parallel_block) add_in_place(s.hidden.data(), s.o_out.data(), c * d);
}

// The shard's FFN columns of the first matrices and rows of the last. Tensor parallel: a
// sequential block first adds the all-reduced attention output to h; a parallel block adds its
// attention partial sums to its MLP ones (one all-reduce for both).
void GeneralOps::mlp(const PlanOp& op) {
  RankState& s = rank(op.rank);
  const TensorShard& shard = s.layout.shard;
  const LayerWeights& w = layer(op);
  const int64_t c = s.tokens;
  const int64_t d = model.hidden;
  const int64_t f = model.ffn;
  const int64_t ffn = shard.ffn;
  const int o_slot = partial_slot(ComputeName::O, op.layer);
  const int mlp_slot = partial_slot(ComputeName::Mlp, op.layer);
  if (!model.parallel_block) {
    if (s.layout.sharded) s.partial.add_value_to(o_slot, 0, c, s.hidden.data());
    norm(s.hidden.data(), s.normed.data(), w.mlp_norm_scale, w.mlp_norm_bias, c);
  }
  const int64_t stride = (model.swiglu ? 2 : 1) * ffn;
  const int64_t up_width = (model.swiglu ? 2 : 1) * f;
  gemm(s.normed.data(), d, w.w_gate_up.data() + shard.first_ffn, up_width, s.wide.data(), stride, c, ffn, d);
  if (model.swiglu) {
    gemm(s.normed.data(), d, w.w_gate_up.data() + f + shard.first_ffn, up_width, s.wide.data() + ffn, stride, c, ffn, d);
    swiglu_in_place(s.wide.data(), c, ffn, stride);
  } else {
    gelu_in_place(s.wide.data(), c, ffn, stride);
  }
  const float* down = w.w_down.data() + shard.first_ffn * d;
  if (s.layout.sharded) {
    float* own = s.partial.slots[static_cast<size_t>(mlp_slot)].own.data();
    gemm(s.wide.data(), stride, down, d, own, d, c, d, ffn);
    if (model.parallel_block) s.partial.add_value_to(o_slot, 0, c, own);
    s.partial.restart(mlp_slot);
    return;
  }
  gemm(s.wide.data(), stride, down, d, s.mlp_out.data(), d, c, d, ffn);
  if (model.parallel_block)
    add_sum_in_place(s.hidden.data(), s.o_out.data(), s.mlp_out.data(), c * d);
  else
    add_in_place(s.hidden.data(), s.mlp_out.data(), c * d);
}

void GeneralOps::lm_head(const PlanOp& op, std::vector<float>& logits) {
  RankState& s = rank(op.rank);
  const int64_t row = s.layout.row_of(op.prefix);  // the op's prefix is the last position, C - 1
  KVR_CHECK(row >= 0, ErrorCode::Internal,
            "lm_head op " + std::to_string(op.id) + ": position " + std::to_string(op.prefix) + " is not a row of rank " +
                std::to_string(op.rank));
  const int64_t d = model.hidden;
  std::vector<float> h(s.hidden.begin() + row * d, s.hidden.begin() + (row + 1) * d);
  if (s.layout.sharded) s.partial.add_value_to(partial_slot(ComputeName::Mlp, model.layers - 1), row, 1, h.data());
  std::vector<float> x(static_cast<size_t>(d));
  norm(h.data(), x.data(), weights.final_norm_scale, weights.final_norm_bias, 1);
  const float* output = weights.output_matrix();
  for (int64_t v = 0; v < model.vocab; ++v) logits[static_cast<size_t>(v)] = dot(x.data(), output + v * d, d);
}

// K,V rows of the shard's KV heads (several ranges for ring-kv), or hidden-state rows of a
// partial-sum slot: a reduce-scatter lands in the receiver's inbox from this sender, an
// all-gather overwrites the receiver's row with the summed value.
void GeneralOps::transfer(const PlanOp& op) {
  if (op.payload_query || op.payload_attn_out) {
    transfer_ring_q(op);
    return;
  }
  RankState& source = rank(op.src);
  RankState& destination = rank(op.dst);
  if (op.payload_hidden) {
    if (op.partial_slot < 0 || op.token_start == op.token_end) return;  // nothing pending (tp-sp's first all-gather)
    const int64_t from = source.layout.row_of(op.token_start);
    const int64_t to = destination.layout.row_of(op.token_start);
    const int64_t count = op.token_end - op.token_start;
    KVR_CHECK(from >= 0 && to >= 0, ErrorCode::Internal, "transfer op " + std::to_string(op.id) + ": rows not held");
    PartialSlot& slot = destination.partial.slots[static_cast<size_t>(op.partial_slot)];
    const int64_t d = model.hidden;
    if (op.transfer_name == "reducescatter") {
      std::vector<float>& inbox = slot.inbox[static_cast<size_t>(op.src)];
      KVR_CHECK(!inbox.empty(), ErrorCode::Internal, "transfer op " + std::to_string(op.id) + ": no inbox");
      source.partial.value(op.partial_slot, from, count, inbox.data() + to * d);
    } else {
      source.partial.value(op.partial_slot, from, count, slot.reduced.data() + to * d);
      std::fill(slot.gathered.begin() + to, slot.gathered.begin() + to + count, 1);
    }
    return;
  }
  KVR_CHECK(source.kv_floats_per_position == destination.kv_floats_per_position, ErrorCode::Internal,
            "transfer op " + std::to_string(op.id) + ": the ranks cache different KV heads");
  std::vector<TokenRange> ranges = op.ranges;
  if (ranges.empty()) ranges.push_back({op.token_start, op.token_end});
  for (const TokenRange& range : ranges) {
    KVR_CHECK(range.end <= source.kv_tokens && range.end <= destination.kv_tokens, ErrorCode::Internal,
              "transfer op " + std::to_string(op.id) + ": positions beyond a rank's cache");
    std::memcpy(destination.kv_row(op.layer, range.start), source.kv_row(op.layer, range.start),
                sizeof(float) * range.size() * source.kv_floats_per_position);
  }
}

}  // namespace kvr::cpu
