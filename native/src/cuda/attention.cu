// Attention kernel selection and dispatch (the kernels are in attention_flash.cu and
// attention_simple.cu).
#include <cstdlib>
#include <string>
#include <vector>

#include "attention.hpp"
#include "check.hpp"
#include "kvr/flash_tiling.hpp"

namespace kvr::cuda {
namespace {

constexpr bool same_name(const char* a, const char* b) {
  while (*a != '\0' && *a == *b) {
    ++a;
    ++b;
  }
  return *a == *b;
}
constexpr bool tiling_is(AttentionKernel kernel, const char* name) {
  return same_name(kFlashTilings[static_cast<int>(kernel)].name, name);
}
// kFlashTilings (kvr/flash_tiling.hpp) is in AttentionKernel order, the default first.
static_assert(static_cast<int>(AttentionKernel::kSimple) == kFlashTilingCount, "one tiling per flash kernel");
static_assert(tiling_is(AttentionKernel::kFlashM128N64W8, "flash-128x64-w8"), "tiling order");
static_assert(tiling_is(AttentionKernel::kFlashM128N64W4, "flash-128x64-w4"), "tiling order");
static_assert(tiling_is(AttentionKernel::kFlashM128N64W4Rolled, "flash-128x64-w4-rolled"), "tiling order");
static_assert(tiling_is(AttentionKernel::kFlashM128N32W4, "flash-128x32-w4"), "tiling order");
static_assert(tiling_is(AttentionKernel::kFlashM256N64W8, "flash-256x64-w8"), "tiling order");
static_assert(tiling_is(AttentionKernel::kFlashM128N64W8Q, "flash-128x64-w8-qreg"), "tiling order");
static_assert(tiling_is(AttentionKernel::kFlashM128N128W8, "flash-128x128-w8"), "tiling order");

}  // namespace

const char* attention_kernel_name(AttentionKernel kernel) {
  const int index = static_cast<int>(kernel);
  if (index >= 0 && index < kFlashTilingCount) return kFlashTilings[index].name;
  return kernel == AttentionKernel::kSimple ? "simple" : "unknown";
}

std::string attention_kernel_description(AttentionKernel kernel) {
  switch (kernel) {
    case AttentionKernel::kFlashM128N64W4:
      return "flash: mma.sync m16n8k16 fp16->fp32, 128 queries x 64 keys per tile, 4 warps, cp.async double buffer";
    case AttentionKernel::kFlashM128N64W4Rolled:
      return "flash: mma.sync m16n8k16 fp16->fp32, 128 queries x 64 keys per tile, 4 warps, cp.async double buffer, "
             "Q K^T k-steps not unrolled";
    case AttentionKernel::kFlashM128N32W4:
      return "flash: mma.sync m16n8k16 fp16->fp32, 128 queries x 32 keys per tile, 4 warps, cp.async double buffer";
    case AttentionKernel::kFlashM256N64W8:
      return "flash: mma.sync m16n8k16 fp16->fp32, 256 queries x 64 keys per tile, 8 warps, cp.async double buffer";
    case AttentionKernel::kFlashM128N64W8:
      return "flash: mma.sync m16n8k16 fp16->fp32, 128 queries x 64 keys per tile, 8 warps, cp.async double buffer";
    case AttentionKernel::kFlashM128N64W8Q:
      return "flash: mma.sync m16n8k16 fp16->fp32, 128 queries x 64 keys per tile, 8 warps, cp.async double buffer, "
             "Q fragments in registers";
    case AttentionKernel::kFlashM128N128W8:
      return "flash: mma.sync m16n8k16 fp16->fp32, 128 queries x 128 keys per tile, 8 warps, cp.async double buffer";
    case AttentionKernel::kSimple:
      return "simple: one warp per (query, head), fp32 online softmax, no tensor cores";
  }
  return "unknown";
}

const std::vector<AttentionKernel>& flash_attention_kernels() {
  static const std::vector<AttentionKernel> kernels = [] {
    std::vector<AttentionKernel> all;
    for (int i = 0; i < kFlashTilingCount; ++i) all.push_back(static_cast<AttentionKernel>(i));
    return all;
  }();
  return kernels;
}

AttentionKernel choose_attention_kernel(int head_dim) {
  AttentionKernel kernel = flash_attention_supports(head_dim) ? flash_attention_kernels().front() : AttentionKernel::kSimple;
  const char* forced = std::getenv("KVR_CUDA_ATTENTION");
  if (forced != nullptr && *forced != '\0') {
    const std::string name = forced;
    std::string known = "simple";
    bool found = name == "simple";
    if (found) kernel = AttentionKernel::kSimple;
    for (const AttentionKernel candidate : flash_attention_kernels()) {
      known += std::string(", ") + attention_kernel_name(candidate);
      if (name == attention_kernel_name(candidate)) {
        found = true;
        kernel = flash_attention_supports(head_dim) ? candidate : AttentionKernel::kSimple;
      }
    }
    KVR_CHECK(found, ErrorCode::InvalidArgument,
              "KVR_CUDA_ATTENTION=" + name + ": expected one of " + known);
  }
  return kernel;
}

void launch_attention(AttentionKernel kernel, const AttentionParams& p, cudaStream_t stream) {
  if (kernel == AttentionKernel::kSimple) {
    launch_attention_simple(p, stream);
  } else {
    launch_attention_flash(kernel, p, stream);
  }
}

}  // namespace kvr::cuda
