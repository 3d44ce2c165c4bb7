#include "cpu_attention.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "cpu_gemm.hpp"
#include "kvr/error.hpp"

namespace kvr::cpu {

namespace {

// Query positions processed together; with the g query heads that share a KV head they form
// the rows of two small GEMMs, scores = Q · K^T and out = P · V.
int64_t query_block(int g) { return std::max<int64_t>(1, 64 / g); }

struct Scratch {
  float* scores;        // [rows][max_keys]
  float* keys_t;        // [hd][max_keys]: K of one KV head, transposed
  float* queries;       // [rows][hd]
  float* outputs;       // [rows][hd]
  float* denominators;  // [rows]
};

Scratch split_scratch(float* scratch, int64_t rows, int hd, int64_t max_keys) {
  Scratch s;
  s.scores = scratch;
  s.keys_t = s.scores + rows * max_keys;
  s.queries = s.keys_t + hd * max_keys;
  s.outputs = s.queries + rows * hd;
  s.denominators = s.outputs + rows * hd;
  return s;
}

}  // namespace

int64_t attention_scratch_floats(int heads, int kv_heads, int head_dim, int64_t max_keys) {
  const int g = heads / kv_heads;
  const int64_t rows = query_block(g) * g;
  return rows * max_keys + static_cast<int64_t>(head_dim) * max_keys + 2 * rows * head_dim + rows;
}

void attention(const AttentionShape& shape, const float* q, const float* kv, float* out, float* scratch,
               int64_t max_keys) {
  KVR_CHECK(shape.kv_heads > 0 && shape.heads % shape.kv_heads == 0, ErrorCode::Internal,
            "attention: heads must be a multiple of kv_heads");
  KVR_CHECK(shape.keys <= max_keys && shape.first_position + shape.queries <= shape.keys, ErrorCode::Internal,
            "attention: the keys must cover the queries and fit the scratch space");
  const int g = shape.heads / shape.kv_heads;
  const int hd = shape.head_dim;
  const int64_t block_positions = query_block(g);
  const int64_t q_stride = static_cast<int64_t>(shape.heads) * hd;
  const int64_t kv_stride = 2 * static_cast<int64_t>(shape.kv_heads) * hd;  // floats per cached position
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const Scratch s = split_scratch(scratch, block_positions * g, hd, max_keys);
  // Keys any query of the op visits: a causal kernel stops at the chunk's last position.
  const int64_t op_keys = shape.causal ? shape.first_position + shape.queries : shape.keys;

  for (int kv_head = 0; kv_head < shape.kv_heads; ++kv_head) {
    const float* k = kv + static_cast<int64_t>(kv_head) * hd;
    const float* v = kv + static_cast<int64_t>(shape.kv_heads + kv_head) * hd;
    for (int64_t key = 0; key < op_keys; ++key)
      for (int i = 0; i < hd; ++i) s.keys_t[i * max_keys + key] = k[key * kv_stride + i];

    for (int64_t i0 = 0; i0 < shape.queries; i0 += block_positions) {
      const int64_t positions = std::min(block_positions, shape.queries - i0);
      const int64_t rows = positions * g;  // row qi * g + gj: position first_t + qi, head kv_head * g + gj
      const int64_t first_t = shape.first_position + i0;
      // Keys this block visits: causal up to its last position, dense all of them.
      const int64_t visited = shape.causal ? first_t + positions : shape.keys;
      for (int64_t qi = 0; qi < positions; ++qi)
        std::memcpy(s.queries + qi * g * hd, q + (i0 + qi) * q_stride + static_cast<int64_t>(kv_head) * g * hd,
                    sizeof(float) * g * hd);

      gemm(s.queries, hd, s.keys_t, max_keys, s.scores, max_keys, rows, visited, hd);

      // Softmax over the unmasked keys s <= t with the maximum subtracted; masked keys weigh 0.
      for (int64_t row = 0; row < rows; ++row) {
        float* score = s.scores + row * max_keys;
        const int64_t unmasked = first_t + row / g + 1;
        float maximum = score[0] * scale;
        for (int64_t key = 0; key < unmasked; ++key) {
          score[key] *= scale;
          maximum = std::max(maximum, score[key]);
        }
        float sum = 0;
        for (int64_t key = 0; key < unmasked; ++key) {
          score[key] = std::exp(score[key] - maximum);
          sum += score[key];
        }
        std::fill(score + unmasked, score + visited, 0.0f);
        s.denominators[row] = sum;
      }

      gemm(s.scores, max_keys, v, kv_stride, s.outputs, hd, rows, hd, visited);

      for (int64_t row = 0; row < rows; ++row) {
        float* destination = out + (i0 + row / g) * q_stride + static_cast<int64_t>(kv_head * g + row % g) * hd;
        for (int i = 0; i < hd; ++i) destination[i] = s.outputs[row * hd + i] / s.denominators[row];
      }
    }
  }
}

}  // namespace kvr::cpu
