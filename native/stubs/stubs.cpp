// Stub implementations of the cuBLAS, cuBLASLt and NCCL calls declared in native/stubs/include/,
// linked (as libkvr_stubs.so) only by the CI compile-and-link check of the CUDA backend's host code
// (native/scripts/build-plain.sh --stubs). Nothing here computes: every call fails with the library's
// "not initialised" status, so a stub-linked binary that somehow got past "no CUDA device" still
// stops at its first library call with a clear error instead of computing garbage.
#include <cublasLt.h>
#include <cublas_v2.h>
#include <nccl.h>

extern "C" {

cublasStatus_t cublasCreate_v2(cublasHandle_t* handle) {
  if (handle != nullptr) *handle = nullptr;
  return CUBLAS_STATUS_NOT_INITIALIZED;
}
cublasStatus_t cublasDestroy_v2(cublasHandle_t) { return CUBLAS_STATUS_NOT_INITIALIZED; }
cublasStatus_t cublasSetStream_v2(cublasHandle_t, cudaStream_t) { return CUBLAS_STATUS_NOT_INITIALIZED; }
cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t, void*, size_t) { return CUBLAS_STATUS_NOT_INITIALIZED; }
const char* cublasGetStatusString(cublasStatus_t status) {
  return status == CUBLAS_STATUS_SUCCESS ? "CUBLAS_STATUS_SUCCESS"
                                         : "stub cuBLAS (native/stubs): no real cuBLAS in this build";
}
cublasStatus_t cublasGemmEx(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void*,
                            const void*, cudaDataType, int, const void*, cudaDataType, int, const void*, void*,
                            cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t) {
  return CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t cublasLtCreate(cublasLtHandle_t* handle) {
  if (handle != nullptr) *handle = nullptr;
  return CUBLAS_STATUS_NOT_INITIALIZED;
}
cublasStatus_t cublasLtDestroy(cublasLtHandle_t) { return CUBLAS_STATUS_NOT_INITIALIZED; }
size_t cublasLtGetVersion(void) { return 0; }

ncclResult_t ncclGetVersion(int* version) {
  if (version != nullptr) *version = 0;
  return ncclSystemError;
}
ncclResult_t ncclGetUniqueId(ncclUniqueId*) { return ncclSystemError; }
ncclResult_t ncclCommInitRank(ncclComm_t* comm, int, ncclUniqueId, int) {
  if (comm != nullptr) *comm = nullptr;
  return ncclSystemError;
}
ncclResult_t ncclCommInitAll(ncclComm_t* comm, int ndev, const int*) {
  for (int i = 0; comm != nullptr && i < ndev; ++i) comm[i] = nullptr;
  return ncclSystemError;
}
ncclResult_t ncclCommDestroy(ncclComm_t) { return ncclSystemError; }
const char* ncclGetErrorString(ncclResult_t result) {
  return result == ncclSuccess ? "no error" : "stub NCCL (native/stubs): no real NCCL in this build";
}
ncclResult_t ncclGroupStart(void) { return ncclSystemError; }
ncclResult_t ncclGroupEnd(void) { return ncclSystemError; }
ncclResult_t ncclSend(const void*, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t) { return ncclSystemError; }
ncclResult_t ncclRecv(void*, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t) { return ncclSystemError; }
ncclResult_t ncclAllReduce(const void*, void*, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t) {
  return ncclSystemError;
}

}  // extern "C"
