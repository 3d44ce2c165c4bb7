// Deterministic random weights and token ids from a seed, identical on every backend: values are
// drawn in fp32 from a counter-based generator (no state), so the CUDA backend can fill fp16
// weights on the device with the same function and still agree with the CPU reference.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define KVR_HOST_DEVICE __host__ __device__
#else
#define KVR_HOST_DEVICE
#endif

namespace kvr {

// splitmix64 finaliser (Steele, Lea, Flood, "Fast splittable pseudorandom number generators",
// OOPSLA 2014): a bijective 64-bit mix, used here as a counter-based generator.
KVR_HOST_DEVICE inline uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Element `index` of tensor `tensor`: uniform in [-scale, scale), from the top 24 bits.
KVR_HOST_DEVICE inline float random_uniform(uint64_t seed, uint64_t tensor, uint64_t index, float scale) {
  const uint64_t bits = mix64(mix64(seed ^ (tensor * 0xD1B54A32D192ED03ull)) ^ index) >> 40;
  const float unit = static_cast<float>(bits) * (1.0f / 16777216.0f);  // [0, 1)
  return (2.0f * unit - 1.0f) * scale;
}

// Token id at a position of the prompt, uniform in [0, vocab).
KVR_HOST_DEVICE inline int64_t token_id(uint64_t seed, int64_t position, int vocab) {
  return static_cast<int64_t>(mix64(mix64(seed ^ 0x7F4A7C159E3779B9ull) ^ static_cast<uint64_t>(position)) %
                              static_cast<uint64_t>(vocab));
}

// Tensor ids. Per-layer tensors are kLayerBase + layer * kTensorsPerLayer + kind.
enum TensorId : uint64_t {
  kEmbedding = 0,       // [V, d], scale 1
  kFinalNormScale = 1,  // [d], 1 + U(-0.1, 0.1)
  kFinalNormBias = 2,   // [d], U(-0.1, 0.1) (layernorm only)
  kLmHead = 3,          // [V, d], scale 1/sqrt(d) (absent when tied: the embedding is used)
  kLayerBase = 16,
  kTensorsPerLayer = 16,
};

enum LayerTensor : uint64_t {
  kAttnNormScale = 0,  // [d], 1 + U(-0.1, 0.1)
  kAttnNormBias = 1,   // [d], U(-0.1, 0.1) (layernorm only)
  kWqkv = 2,           // [d, (h + 2 h_kv) hd], scale 1/sqrt(d); columns: q heads, k heads, v heads
  kWo = 3,             // [h hd, d], scale 1/sqrt(h hd)
  kMlpNormScale = 4,   // [d] (sequential blocks only)
  kMlpNormBias = 5,    // [d] (sequential + layernorm only)
  kWgateUp = 6,        // swiglu: [d, 2f] (gate columns, then up columns); gelu: [d, f] (up); scale 1/sqrt(d)
  kWdown = 7,          // [f, d], scale 1/sqrt(f)
};

KVR_HOST_DEVICE inline uint64_t layer_tensor(int layer, LayerTensor kind) {
  return kLayerBase + static_cast<uint64_t>(layer) * kTensorsPerLayer + kind;
}

}  // namespace kvr
