// Causal multi-head attention (GQA/MQA) of one chunk of queries over a rank's K,V cache, fp32.
#pragma once

#include <cstdint>

namespace kvr::cpu {

struct AttentionShape {
  int heads = 0;
  int kv_heads = 0;
  int head_dim = 0;
  int64_t queries = 0;         // c: query positions [first_position, first_position + c)
  int64_t first_position = 0;  // P
  int64_t keys = 0;            // cached positions [0, keys) a dense kernel visits
  bool causal = true;          // true: visit keys [0, t]; false: visit all keys, mask s > t (TSP)
};

// Floats of scratch `attention` needs when at most `max_keys` keys are visited.
int64_t attention_scratch_floats(int heads, int kv_heads, int head_dim, int64_t max_keys);

// out[t, head] = softmax_s(q[t, head] · k[s, head / g] / sqrt(hd)) · v[s, head / g] over s <= t.
//   q, out: [queries, heads * hd]; kv: one layer of the cache, [position][k|v][kv_head][hd].
// Each output row is computed with the same operations in the same order whatever the chunk,
// the block of queries it is processed with, or `causal`: masked keys weigh exactly 0, and
// adding 0 leaves a sum unchanged.
void attention(const AttentionShape& shape, const float* q, const float* kv, float* out, float* scratch,
               int64_t max_keys);

}  // namespace kvr::cpu
