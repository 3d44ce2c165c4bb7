// Thin wrappers over the PTX instructions the attention kernel is built from (sm_80 and later):
// cp.async (global -> shared without registers), ldmatrix (shared -> MMA fragments) and the
// tensor-core mma.sync m16n8k16 with fp16 inputs and fp32 accumulators. Fragment layouts follow
// the PTX ISA ("Matrix Fragments for mma.m16n8k16"); with groupID = lane / 4, tig = lane % 4:
//   A (16x16, row-major) a0: (g, 2tig..+1)  a1: (g+8, 2tig..+1)  a2: (g, 8+2tig..+1)  a3: (g+8, 8+2tig..+1)
//   B (16x8, "col")      b0: (k = 2tig..+1, n = g)                b1: (k = 8+2tig..+1, n = g)
//   C (16x8, fp32)       c0,c1: (g, 2tig..+1)                     c2,c3: (g+8, 2tig..+1)
#pragma once

#include <cstdint>

#include <cuda_fp16.h>

namespace kvr::cuda::ptx {

// Address of a shared-memory object in the shared window (what cp.async and ldmatrix take).
__device__ __forceinline__ uint32_t shared_address(const void* pointer) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(pointer));
}

// Copies 16 bytes from global to shared memory asynchronously; when `valid` is false nothing is
// read and the 16 bytes are zero-filled (the source must still be a mapped address).
__device__ __forceinline__ void cp_async_16(uint32_t shared, const void* global, bool valid) {
  const int bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(shared), "l"(global), "r"(bytes) : "memory");
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }

// Waits until at most `Pending` committed groups of this thread are still in flight.
template <int Pending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(Pending) : "memory");
}

// Four 8x8 b16 matrices; lanes 8i..8i+7 give the row addresses of matrix i, register i receives
// matrix i with lane l holding row l/4, columns 2(l%4) and 2(l%4)+1.
// `row` is this lane's row address in the shared window (see shared_address).
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(row)
               : "memory");
}

// As ldmatrix_x4, transposed: lane l holds column l/4, rows 2(l%4) and 2(l%4)+1 of each matrix.
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(row)
               : "memory");
}

// d = a * b + d, 16x8x16, fp16 inputs, fp32 accumulators.
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Two floats as one register of packed fp16 (lo in the low half), round to nearest.
__device__ __forceinline__ uint32_t pack_half2(float lo, float hi) {
  const __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&h);
}

__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

}  // namespace kvr::cuda::ptx
