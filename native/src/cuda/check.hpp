// Error checking of CUDA runtime calls: every call goes through KVR_CUDA_CHECK, which raises
// kvr::Error with the call's text, the CUDA error string and the file:line of the call. A failed
// allocation is OutOfMemory; anything else is CudaError.
#pragma once

#include <string>

#include <cuda_runtime.h>

#include "kvr/error.hpp"

namespace kvr::cuda {

[[noreturn]] inline void fail_cuda(const char* call, cudaError_t status, const char* file, int line) {
  const ErrorCode code = status == cudaErrorMemoryAllocation ? ErrorCode::OutOfMemory : ErrorCode::CudaError;
  std::string message = std::string(call) + ": " + cudaGetErrorString(status);
  if (code == ErrorCode::OutOfMemory) message = "out of memory: " + message;
  throw Error(code, message, file, line);
}

}  // namespace kvr::cuda

#define KVR_CUDA_CHECK(call)                                                        \
  do {                                                                              \
    const cudaError_t kvr_cuda_status_ = (call);                                    \
    if (kvr_cuda_status_ != cudaSuccess)                                            \
      ::kvr::cuda::fail_cuda(#call, kvr_cuda_status_, __FILE__, __LINE__);          \
  } while (0)

// After a kernel launch (`kernel` a string literal): reports a bad launch configuration, or an
// earlier asynchronous error of the device.
#define KVR_CUDA_CHECK_LAUNCH(kernel)                                                \
  do {                                                                              \
    const cudaError_t kvr_cuda_status_ = cudaGetLastError();                        \
    if (kvr_cuda_status_ != cudaSuccess)                                            \
      ::kvr::cuda::fail_cuda("launch of " kernel, kvr_cuda_status_, __FILE__, __LINE__); \
  } while (0)
