/* Stub of cuBLASLt's cublasLt.h (see cublas_v2.h beside it). native/src/cuda does not call
 * cuBLASLt yet; this declares the handle and its life cycle, with the real signatures and symbol
 * names, so a future cuBLASLt GEMM or attention path starts from a header CI already compiles.
 * Add declarations here, and stubs in native/stubs/stubs.cpp, as the code starts using them. */
#ifndef KVR_STUB_CUBLASLT_H_
#define KVR_STUB_CUBLASLT_H_

#include <stddef.h>

#include "cublas_v2.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cublasLtContext;
typedef struct cublasLtContext* cublasLtHandle_t;

cublasStatus_t cublasLtCreate(cublasLtHandle_t* lightHandle);
cublasStatus_t cublasLtDestroy(cublasLtHandle_t lightHandle);
size_t cublasLtGetVersion(void);

#ifdef __cplusplus
}
#endif

#endif /* KVR_STUB_CUBLASLT_H_ */
