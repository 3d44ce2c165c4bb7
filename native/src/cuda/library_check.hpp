// Error checking of cuBLAS and NCCL calls (host code only: the kernels never include these
// headers). Like KVR_CUDA_CHECK: kvr::Error(CudaError) naming the call, the library's status
// string and the file:line of the call.
#pragma once

#include <string>

#include <cublas_v2.h>
#if defined(KVR_WITH_NCCL)
#include <nccl.h>
#endif

#include "kvr/error.hpp"

#define KVR_CUBLAS_CHECK(call)                                                                  \
  do {                                                                                          \
    const cublasStatus_t kvr_cublas_status_ = (call);                                           \
    if (kvr_cublas_status_ != CUBLAS_STATUS_SUCCESS)                                            \
      throw ::kvr::Error(kvr_cublas_status_ == CUBLAS_STATUS_ALLOC_FAILED ? ::kvr::ErrorCode::OutOfMemory \
                                                                          : ::kvr::ErrorCode::CudaError, \
                         std::string(#call) + ": " + cublasGetStatusString(kvr_cublas_status_), \
                         __FILE__, __LINE__);                                                   \
  } while (0)

#if defined(KVR_WITH_NCCL)
#define KVR_NCCL_CHECK(call)                                                                    \
  do {                                                                                          \
    const ncclResult_t kvr_nccl_status_ = (call);                                               \
    if (kvr_nccl_status_ != ncclSuccess)                                                        \
      throw ::kvr::Error(::kvr::ErrorCode::CudaError,                                           \
                         std::string(#call) + ": " + ncclGetErrorString(kvr_nccl_status_),      \
                         __FILE__, __LINE__);                                                   \
  } while (0)
#endif
