#include "cpu_gemm.hpp"

#include <algorithm>
#include <cstring>

namespace kvr::cpu {

namespace {

// Blocking: a [kDepthTile, kColumnTile] block of B (128 KiB) stays in L2 while every row group
// of A passes over it; within it, kRowGroup rows times kStrip columns of C stay in registers for
// the whole depth of the block.
constexpr int64_t kColumnTile = 256;
constexpr int64_t kDepthTile = 128;
constexpr int kRowGroup = 4;
constexpr int kStrip = 8;

#if defined(__GNUC__)
// GCC/Clang vector extension, 4 floats: one SSE2/NEON register. Plain loops vectorise at -O2
// too, but -O3 and -march=native then re-vectorise them badly (3-8x slower); this form compiles
// to the same register kernel at every optimisation level.
constexpr int kVector = 4;
typedef float Vector __attribute__((vector_size(kVector * sizeof(float))));
constexpr int kVectorsPerStrip = kStrip / kVector;

// C[r][0..kStrip) += A[r][0..depth) · B[0..depth)[0..kStrip) for R rows.
template <int R>
void add_strip(const float* const* a_rows, const float* b, int64_t ldb, float* const* c_rows, int64_t depth) {
  Vector acc[R][kVectorsPerStrip];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < kVectorsPerStrip; ++v) std::memcpy(&acc[r][v], c_rows[r] + v * kVector, sizeof(Vector));
  for (int64_t p = 0; p < depth; ++p) {
    Vector b_row[kVectorsPerStrip];
    for (int v = 0; v < kVectorsPerStrip; ++v) std::memcpy(&b_row[v], b + p * ldb + v * kVector, sizeof(Vector));
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const float a_value = a_rows[r][p];
#pragma GCC unroll 8
      for (int v = 0; v < kVectorsPerStrip; ++v) acc[r][v] += a_value * b_row[v];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < kVectorsPerStrip; ++v) std::memcpy(c_rows[r] + v * kVector, &acc[r][v], sizeof(Vector));
}
#else
// Portable form: the same operations per element.
template <int R>
void add_strip(const float* const* a_rows, const float* b, int64_t ldb, float* const* c_rows, int64_t depth) {
  float acc[R][kStrip];
  for (int r = 0; r < R; ++r)
    for (int l = 0; l < kStrip; ++l) acc[r][l] = c_rows[r][l];
  for (int64_t p = 0; p < depth; ++p) {
    const float* b_row = b + p * ldb;
    for (int r = 0; r < R; ++r) {
      const float a_value = a_rows[r][p];
      for (int l = 0; l < kStrip; ++l) acc[r][l] += a_value * b_row[l];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int l = 0; l < kStrip; ++l) c_rows[r][l] = acc[r][l];
}
#endif

// The last `width` (< kStrip) columns of the rows, through the same kernel on zero-padded copies:
// every element of C is computed by add_strip, so its value cannot depend on whether it falls in
// a full strip (which depends on n) even when the compiler contracts a * b + c into an FMA.
template <int R>
void add_narrow_strip(const float* const* a_rows, const float* b, int64_t ldb, float* const* c_rows, int64_t depth,
                      int width) {
  float b_padded[kDepthTile * kStrip] = {};
  float c_padded[R][kStrip] = {};
  float* c_padded_rows[R];
  for (int64_t p = 0; p < depth; ++p) std::memcpy(b_padded + p * kStrip, b + p * ldb, sizeof(float) * width);
  for (int r = 0; r < R; ++r) {
    std::memcpy(c_padded[r], c_rows[r], sizeof(float) * width);
    c_padded_rows[r] = c_padded[r];
  }
  add_strip<R>(a_rows, b_padded, kStrip, c_padded_rows, depth);
  for (int r = 0; r < R; ++r) std::memcpy(c_rows[r], c_padded[r], sizeof(float) * width);
}

// Adds A[i0..i0+R)[k0..k0+depth) · B[k0..k0+depth)[n0..n0+width) to C[i0..i0+R)[n0..n0+width).
template <int R>
void add_row_group(const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t i0,
                   int64_t n0, int64_t width, int64_t k0, int64_t depth) {
  const float* a_rows[R];
  float* c_rows[R];
  for (int r = 0; r < R; ++r) {
    a_rows[r] = a + (i0 + r) * lda + k0;
    c_rows[r] = c + (i0 + r) * ldc + n0;
  }
  const float* b_block = b + k0 * ldb + n0;
  int64_t j = 0;
  float* strip_rows[R];
  for (; j + kStrip <= width; j += kStrip) {
    for (int r = 0; r < R; ++r) strip_rows[r] = c_rows[r] + j;
    add_strip<R>(a_rows, b_block + j, ldb, strip_rows, depth);
  }
  if (j < width) {
    for (int r = 0; r < R; ++r) strip_rows[r] = c_rows[r] + j;
    add_narrow_strip<R>(a_rows, b_block + j, ldb, strip_rows, depth, static_cast<int>(width - j));
  }
}

}  // namespace

void gemm(const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, int64_t m, int64_t n,
          int64_t k) {
  for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.0f);
  // Tiles depend on n and k only, never on m: a row's result is the same in any batch.
  for (int64_t n0 = 0; n0 < n; n0 += kColumnTile) {
    const int64_t width = std::min(kColumnTile, n - n0);
    for (int64_t k0 = 0; k0 < k; k0 += kDepthTile) {
      const int64_t depth = std::min(kDepthTile, k - k0);
      int64_t i0 = 0;
      for (; i0 + kRowGroup <= m; i0 += kRowGroup)
        add_row_group<kRowGroup>(a, lda, b, ldb, c, ldc, i0, n0, width, k0, depth);
      switch (m - i0) {
        case 3: add_row_group<3>(a, lda, b, ldb, c, ldc, i0, n0, width, k0, depth); break;
        case 2: add_row_group<2>(a, lda, b, ldb, c, ldc, i0, n0, width, k0, depth); break;
        case 1: add_row_group<1>(a, lda, b, ldb, c, ldc, i0, n0, width, k0, depth); break;
        default: break;
      }
    }
  }
}

}  // namespace kvr::cpu
