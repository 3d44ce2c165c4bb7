#include "cpu_weights.hpp"

#include <algorithm>
#include <cmath>
#include <thread>

#include "cpu_memory.hpp"
#include "kvr/weights.hpp"

namespace kvr::cpu {

namespace {

// element i = offset + random_uniform(seed, tensor, i, scale). Large tensors are filled by all
// hardware threads: each element depends only on its index, so the split changes nothing.
void fill_uniform(std::vector<float>& values, uint64_t seed, uint64_t tensor, float scale, float offset) {
  const int64_t count = static_cast<int64_t>(values.size());
  auto fill_range = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      values[static_cast<size_t>(i)] = offset + random_uniform(seed, tensor, static_cast<uint64_t>(i), scale);
  };
  const int64_t kParallelThreshold = int64_t{1} << 20;
  const int64_t threads = std::min<int64_t>(std::max(1u, std::thread::hardware_concurrency()), 64);
  if (count < kParallelThreshold || threads == 1) {
    fill_range(0, count);
    return;
  }
  std::vector<std::thread> workers;
  const int64_t per_thread = (count + threads - 1) / threads;
  for (int64_t t = 0; t < threads; ++t) {
    const int64_t begin = std::min(count, t * per_thread);
    const int64_t end = std::min(count, begin + per_thread);
    workers.emplace_back(fill_range, begin, end);
  }
  for (auto& worker : workers) worker.join();
}

std::vector<float> tensor(int64_t count, uint64_t seed, uint64_t id, float scale, float offset, const char* what) {
  std::vector<float> values = allocate_floats(count, what);
  fill_uniform(values, seed, id, scale, offset);
  return values;
}

float inverse_sqrt(int64_t n) { return static_cast<float>(1.0 / std::sqrt(static_cast<double>(n))); }

}  // namespace

int64_t qkv_width(const ModelConfig& model) {
  return static_cast<int64_t>(model.heads + 2 * model.kv_heads) * model.head_dim;
}

int64_t mlp_width(const ModelConfig& model) { return (model.swiglu ? 2 : 1) * static_cast<int64_t>(model.ffn); }

double weight_bytes(const ModelConfig& model) {
  const double d = model.hidden;
  const double norm = model.layernorm ? 2 * d : d;  // scale (+ bias)
  const double per_layer = norm + (model.parallel_block ? 0 : norm) + d * qkv_width(model) +
                           static_cast<double>(model.heads) * model.head_dim * d + d * mlp_width(model) +
                           static_cast<double>(model.ffn) * d;
  const double vocab = static_cast<double>(model.vocab) * d * (model.tied_embeddings ? 1 : 2);
  return sizeof(float) * (vocab + norm + model.layers * per_layer);
}

ModelWeights generate_weights(const ModelConfig& model, uint64_t seed) {
  const int64_t d = model.hidden;
  const int64_t attention_width = static_cast<int64_t>(model.heads) * model.head_dim;
  ModelWeights weights;
  weights.embedding = tensor(model.vocab * d, seed, kEmbedding, 1.0f, 0.0f, "the embedding");
  weights.final_norm_scale = tensor(d, seed, kFinalNormScale, 0.1f, 1.0f, "the final norm");
  if (model.layernorm) weights.final_norm_bias = tensor(d, seed, kFinalNormBias, 0.1f, 0.0f, "the final norm");
  if (!model.tied_embeddings)
    weights.lm_head = tensor(model.vocab * d, seed, kLmHead, inverse_sqrt(d), 0.0f, "the lm_head");

  weights.layers.resize(static_cast<size_t>(model.layers));
  for (int layer = 0; layer < model.layers; ++layer) {
    LayerWeights& w = weights.layers[static_cast<size_t>(layer)];
    auto id = [&](LayerTensor kind) { return layer_tensor(layer, kind); };
    w.attn_norm_scale = tensor(d, seed, id(kAttnNormScale), 0.1f, 1.0f, "a norm");
    if (model.layernorm) w.attn_norm_bias = tensor(d, seed, id(kAttnNormBias), 0.1f, 0.0f, "a norm");
    w.wqkv = tensor(d * qkv_width(model), seed, id(kWqkv), inverse_sqrt(d), 0.0f, "Wqkv");
    w.wo = tensor(attention_width * d, seed, id(kWo), inverse_sqrt(attention_width), 0.0f, "Wo");
    if (!model.parallel_block) {
      w.mlp_norm_scale = tensor(d, seed, id(kMlpNormScale), 0.1f, 1.0f, "a norm");
      if (model.layernorm) w.mlp_norm_bias = tensor(d, seed, id(kMlpNormBias), 0.1f, 0.0f, "a norm");
    }
    w.w_gate_up = tensor(d * mlp_width(model), seed, id(kWgateUp), inverse_sqrt(d), 0.0f, "the MLP");
    w.w_down = tensor(static_cast<int64_t>(model.ffn) * d, seed, id(kWdown), inverse_sqrt(model.ffn), 0.0f,
                      "the MLP");
  }
  return weights;
}

}  // namespace kvr::cpu
