#include "gemm.hpp"

#include <climits>
#include <string>

#include "library_check.hpp"

namespace kvr::cuda {

void gemm(cublasHandle_t handle, const GemmParams& p) {
  if (p.m <= 0 || p.n <= 0) return;
  KVR_CHECK(p.m <= INT_MAX && p.n <= INT_MAX && p.k <= INT_MAX && p.lda <= INT_MAX && p.ldb <= INT_MAX &&
                p.ldc <= INT_MAX && p.k > 0,
            ErrorCode::Internal,
            "gemm: shape out of cuBLAS int range (m " + std::to_string(p.m) + ", n " + std::to_string(p.n) + ", k " +
                std::to_string(p.k) + ")");
  // cuBLAS is column-major, and the column-major view of a row-major [r][c] matrix (row stride
  // ld) is its transpose [c][r] with leading dimension ld. Row-major C = A . B is therefore the
  // column-major C^T = B^T . A^T over the stored bytes as they are: A^T and C^T need no
  // operation, B^T neither when B is stored [k][n]; a B stored as [n][k] views as B itself
  // ([k][n] column-major), so it takes CUBLAS_OP_T.
  const float alpha = 1.f;
  const float beta = p.accumulate ? 1.f : 0.f;
  KVR_CUBLAS_CHECK(cublasGemmEx(handle, p.b_transposed ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N,
                                static_cast<int>(p.n), static_cast<int>(p.m), static_cast<int>(p.k), &alpha, p.b,
                                CUDA_R_16F, static_cast<int>(p.ldb), p.a, CUDA_R_16F, static_cast<int>(p.lda), &beta,
                                p.c, p.c_fp32 ? CUDA_R_32F : CUDA_R_16F, static_cast<int>(p.ldc), CUBLAS_COMPUTE_32F,
                                CUBLAS_GEMM_DEFAULT));
}

}  // namespace kvr::cuda
