// Embedding gather of a chunk's tokens (MODEL.md "embed"), at the start of every run.
#include "check.hpp"
#include "elementwise.hpp"
#include "kvr/weights.hpp"

namespace kvr::cuda {
namespace {

__global__ void embed_kernel(const EmbedParams p) {
  const int64_t i = blockIdx.x;
  const int64_t token = token_id(p.seed, p.first_position + i, p.vocab);
  const __half* row = p.table + token * p.dim;
  __half* out = p.out + i * p.dim;
  for (int j = static_cast<int>(threadIdx.x); j < p.dim; j += static_cast<int>(blockDim.x)) out[j] = row[j];
}

}  // namespace

void launch_embed(const EmbedParams& p, cudaStream_t stream) {
  if (p.tokens <= 0) return;
  embed_kernel<<<static_cast<unsigned>(p.tokens), 256, 0, stream>>>(p);
  KVR_CUDA_CHECK_LAUNCH("embed_kernel");
}

}  // namespace kvr::cuda
