// fp32 matrix products of the CPU backend.
//
// Determinism: every output element is summed over k in ascending order, starting from 0, by
// the same kernel whatever m and n are and wherever its row sits in A or its column in B. A
// token's result therefore does not depend on how the context was split into chunks, and an
// attention score does not depend on how many keys were visited.
#pragma once

#include <cstdint>

namespace kvr::cpu {

// C[m, n] = A[m, k] · B[k, n]; all row-major with leading dimensions (row strides) lda, ldb, ldc.
// C must not overlap A or B.
void gemm(const float* a, int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc,
          int64_t m, int64_t n, int64_t k);

// x[0..n) · y[0..n) in fp32, summed in 8 interleaved lanes combined pairwise: a fixed order
// the compiler can vectorise.
inline float dot(const float* x, const float* y, int64_t n) {
  constexpr int kLanes = 8;
  float lane[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int l = 0; l < kLanes; ++l) lane[l] += x[i + l] * y[i + l];
  }
  for (int l = 0; i < n; ++i, ++l) lane[l] += x[i] * y[i];
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

}  // namespace kvr::cpu
