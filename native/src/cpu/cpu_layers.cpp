#include "cpu_layers.hpp"

#include <cmath>

namespace kvr::cpu {

// Norm statistics are summed in double: cheap (one pass per row) and it keeps the reference
// close to the exact value for wide rows.

void rms_norm(const float* x, float* y, const float* scale, int64_t rows, int64_t width) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* in = x + r * width;
    float* out = y + r * width;
    double sum_squares = 0;
    for (int64_t i = 0; i < width; ++i) sum_squares += static_cast<double>(in[i]) * in[i];
    const float inverse = static_cast<float>(1.0 / std::sqrt(sum_squares / width + kNormEpsilon));
    for (int64_t i = 0; i < width; ++i) out[i] = in[i] * inverse * scale[i];
  }
}

void layer_norm(const float* x, float* y, const float* scale, const float* bias, int64_t rows, int64_t width) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* in = x + r * width;
    float* out = y + r * width;
    double sum = 0;
    for (int64_t i = 0; i < width; ++i) sum += in[i];
    const double mean = sum / width;
    double sum_squares = 0;
    for (int64_t i = 0; i < width; ++i) sum_squares += (in[i] - mean) * (in[i] - mean);
    const float inverse = static_cast<float>(1.0 / std::sqrt(sum_squares / width + kNormEpsilon));
    const float mean_f = static_cast<float>(mean);
    for (int64_t i = 0; i < width; ++i) out[i] = (in[i] - mean_f) * inverse * scale[i] + bias[i];
  }
}

RopeTable make_rope_table(int64_t first, int64_t count, int head_dim) {
  RopeTable table;
  table.first = first;
  table.half = head_dim / 2;
  table.cos.resize(static_cast<size_t>(count * table.half));
  table.sin.resize(static_cast<size_t>(count * table.half));
  // Angles in double: positions reach the tens of thousands, where an fp32 product t * theta
  // would already be off by ~1e-3 rad.
  for (int i = 0; i < table.half; ++i) {
    const double theta = std::pow(10000.0, -2.0 * i / head_dim);
    for (int64_t t = 0; t < count; ++t) {
      const double angle = static_cast<double>(first + t) * theta;
      table.cos[static_cast<size_t>(t * table.half + i)] = static_cast<float>(std::cos(angle));
      table.sin[static_cast<size_t>(t * table.half + i)] = static_cast<float>(std::sin(angle));
    }
  }
  return table;
}

void apply_rope(float* head, const float* cos, const float* sin, int half) {
  for (int i = 0; i < half; ++i) {
    const float a = head[i];
    const float b = head[i + half];
    head[i] = a * cos[i] - b * sin[i];
    head[i + half] = b * cos[i] + a * sin[i];
  }
}

void swiglu_in_place(float* gate_up, int64_t rows, int64_t ffn, int64_t stride) {
  for (int64_t r = 0; r < rows; ++r) {
    float* gate = gate_up + r * stride;
    const float* up = gate + ffn;
    for (int64_t i = 0; i < ffn; ++i) {
      const float z = gate[i];
      gate[i] = z / (1.0f + std::exp(-z)) * up[i];
    }
  }
}

void gelu_in_place(float* x, int64_t rows, int64_t ffn, int64_t stride) {
  const float inverse_sqrt2 = 0.70710678118654752f;
  for (int64_t r = 0; r < rows; ++r) {
    float* row = x + r * stride;
    for (int64_t i = 0; i < ffn; ++i) {
      const float z = row[i];
      row[i] = 0.5f * z * (1.0f + std::erf(z * inverse_sqrt2));
    }
  }
}

void add_in_place(float* h, const float* a, int64_t count) {
  for (int64_t i = 0; i < count; ++i) h[i] += a[i];
}

void add_sum_in_place(float* h, const float* a, const float* b, int64_t count) {
  for (int64_t i = 0; i < count; ++i) h[i] += a[i] + b[i];
}

}  // namespace kvr::cpu
