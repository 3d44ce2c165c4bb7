// Row-major GEMMs on cuBLAS (fp16 inputs, fp32 accumulation): C = A . B (+ C when accumulating,
// which is how the residual adds of a sequential block ride in the GEMM epilogue for free).
#pragma once

#include <cstdint>

#include <cublas_v2.h>
#include <cuda_fp16.h>

namespace kvr::cuda {

struct GemmParams {
  int64_t m = 0;                // rows of A and C
  int64_t n = 0;                // columns of B and C
  int64_t k = 0;                // columns of A, rows of B
  const __half* a = nullptr;    // [m][k], row stride lda
  int64_t lda = 0;
  const __half* b = nullptr;    // [k][n] with row stride ldb, or [n][k] when b_transposed
  int64_t ldb = 0;
  bool b_transposed = false;    // true: B is stored as its transpose [n][k] (the LM head [V][d])
  void* c = nullptr;            // [m][n], row stride ldc, fp16 or fp32
  int64_t ldc = 0;
  bool c_fp32 = false;
  bool accumulate = false;      // C += A . B instead of C = A . B
};

// Enqueues on the handle's stream. Throws CudaError (InvalidArgument-like shapes are Internal).
void gemm(cublasHandle_t handle, const GemmParams& p);

}  // namespace kvr::cuda
