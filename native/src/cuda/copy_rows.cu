// Copy of K,V cache rows between two ranks on one device (a transfer whose source and
// destination share a GPU): 16-byte vectors when both ends are aligned, else single values.
#include "check.hpp"
#include "elementwise.hpp"

namespace kvr::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads) copy_vectors_kernel(const uint4* src, uint4* dst, int64_t count) {
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x; idx < count;
       idx += static_cast<int64_t>(gridDim.x) * kThreads) {
    dst[idx] = src[idx];
  }
}

__global__ void __launch_bounds__(kThreads) copy_values_kernel(const __half* src, __half* dst, int64_t count) {
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(kThreads) + threadIdx.x; idx < count;
       idx += static_cast<int64_t>(gridDim.x) * kThreads) {
    dst[idx] = src[idx];
  }
}

unsigned blocks_for(int64_t count) {
  const int64_t blocks = (count + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 65536 * 8 ? blocks : 65536 * 8);
}

}  // namespace

void launch_copy_rows(const CopyRowsParams& p, cudaStream_t stream) {
  if (p.count <= 0) return;
  const bool vectors = p.count % 8 == 0 && reinterpret_cast<uintptr_t>(p.src) % 16 == 0 &&
                       reinterpret_cast<uintptr_t>(p.dst) % 16 == 0;
  if (vectors) {
    copy_vectors_kernel<<<blocks_for(p.count / 8), kThreads, 0, stream>>>(reinterpret_cast<const uint4*>(p.src),
                                                                          reinterpret_cast<uint4*>(p.dst), p.count / 8);
  } else {
    copy_values_kernel<<<blocks_for(p.count), kThreads, 0, stream>>>(p.src, p.dst, p.count);
  }
  KVR_CUDA_CHECK_LAUNCH("copy_rows_kernel");
}

}  // namespace kvr::cuda
