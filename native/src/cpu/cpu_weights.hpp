// The model's weights in fp32, generated once from the seed (include/kvr/weights.hpp) and shared
// read-only by every rank: weights are replicated in every strategy.
#pragma once

#include <cstdint>
#include <vector>

#include "kvr/plan.hpp"

namespace kvr::cpu {

struct LayerWeights {
  std::vector<float> attn_norm_scale;  // [d]
  std::vector<float> attn_norm_bias;   // [d], layernorm only
  std::vector<float> wqkv;             // [d, (h + 2 h_kv) hd]
  std::vector<float> wo;               // [h hd, d]
  std::vector<float> mlp_norm_scale;   // [d], sequential blocks only
  std::vector<float> mlp_norm_bias;    // [d], sequential + layernorm only
  std::vector<float> w_gate_up;        // swiglu: [d, 2f] (gate, up); gelu: [d, f]
  std::vector<float> w_down;           // [f, d]
};

struct ModelWeights {
  std::vector<float> embedding;         // [V, d]
  std::vector<float> final_norm_scale;  // [d]
  std::vector<float> final_norm_bias;   // [d], layernorm only
  std::vector<float> lm_head;           // [V, d], empty when tied
  std::vector<LayerWeights> layers;

  // [V, d] rows whose dot products with the final hidden state are the logits.
  const float* output_matrix() const { return lm_head.empty() ? embedding.data() : lm_head.data(); }
};

// Columns of the qkv projection and of the first MLP projection.
int64_t qkv_width(const ModelConfig& model);
int64_t mlp_width(const ModelConfig& model);

// Bytes generate_weights allocates for this model (before allocating anything).
double weight_bytes(const ModelConfig& model);

ModelWeights generate_weights(const ModelConfig& model, uint64_t seed);

}  // namespace kvr::cpu
