// Row-wise pieces of the model (native/MODEL.md): norms, rotary embedding, MLP activations and
// residual adds, in fp32 on the CPU.
#pragma once

#include <cstdint>
#include <vector>

namespace kvr::cpu {

constexpr float kNormEpsilon = 1e-5f;

// y[r] = x[r] / sqrt(mean(x[r]^2) + eps) * scale, for `rows` rows of `width` (row stride = width).
void rms_norm(const float* x, float* y, const float* scale, int64_t rows, int64_t width);

// y[r] = (x[r] - mean) / sqrt(var + eps) * scale + bias, biased variance.
void layer_norm(const float* x, float* y, const float* scale, const float* bias, int64_t rows, int64_t width);

// cos and sin of the rotary angles t * 10000^(-2i/hd) for positions [first, first + count) and
// pairs i < hd/2: row (t - first) holds hd/2 values.
struct RopeTable {
  int64_t first = 0;
  int half = 0;  // hd / 2
  std::vector<float> cos;
  std::vector<float> sin;

  const float* cos_at(int64_t position) const { return cos.data() + (position - first) * half; }
  const float* sin_at(int64_t position) const { return sin.data() + (position - first) * half; }
};
RopeTable make_rope_table(int64_t first, int64_t count, int head_dim);

// Rotate-half RoPE of one head vector in place: (a, b) = (x[i], x[i + hd/2]) becomes
// (a cos - b sin, b cos + a sin).
void apply_rope(float* head, const float* cos, const float* sin, int half);

// SwiGLU over rows of [gate | up] (row stride `stride` >= 2 * ffn): writes silu(gate) * up over
// the gate columns.
void swiglu_in_place(float* gate_up, int64_t rows, int64_t ffn, int64_t stride);

// Exact (erf) GELU over the first `ffn` columns of each row.
void gelu_in_place(float* x, int64_t rows, int64_t ffn, int64_t stride);

// h[i] += a[i]
void add_in_place(float* h, const float* a, int64_t count);
// h[i] += a[i] + b[i] (parallel block: h + (attention + mlp))
void add_sum_in_place(float* h, const float* a, const float* b, int64_t count);

}  // namespace kvr::cpu
