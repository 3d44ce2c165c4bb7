// The check bench-attention applies to the CUDA attention kernels, on the host and without CUDA so
// that it can be tested here (kvr-exec attention-check, test/native/attention-check.test.ts):
// an fp32/fp64 reference of sampled query rows, and the relative error of a kernel's output on them.
//
// The inputs make the check sharp. Q is uniform in +-kAttentionCheckQScale and K, V in +-1, so the
// scaled scores q.k / sqrt(hd) have a standard deviation of kAttentionCheckQScale / 3 (3.5): the
// softmax is peaked, and a key wrongly masked in or out changes a row's output by a large fraction
// whenever it is among the row's top keys. (With Q in +-1 too, the std is 1/3, every key of an 8k
// prefix weighs about the same, and a whole 64-key tile masked wrongly moves the output by far less
// than the tolerance.) The sampled rows include both sides of every 64- and 128-row tile boundary
// near the chunk's start and end, where the causal mask's diagonal tile and the chunk-over-prefix
// offset matter.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kvr/flash_tiling.hpp"
#include "kvr/json.hpp"

namespace kvr {

constexpr float kAttentionCheckQScale = 10.5f;
constexpr double kAttentionCheckTolerance = 2e-2;

// One attention call: `chunk` queries at positions [prefix, prefix + chunk) over keys [0, prefix +
// chunk); query t sees keys s <= t (the dense-masked variant masks the rest: the same result).
// q: [chunk][heads][head_dim]; cache: [keys][2][kv_heads][head_dim] (K then V per token).
struct AttentionShape {
  int heads = 32;
  int kv_heads = 32;
  int head_dim = 128;
  int64_t chunk = 4096;
  int64_t prefix = 8192;
};

// Mask faults a kernel could have, for testing the check itself (None for the real reference).
enum class MaskFault {
  None,
  DiagonalTile,  // the whole 64-key tile holding the diagonal is visible: up to 63 future keys
  PrefixTile,    // the last 64-key tile of the prefix is masked out (an off-by-a-tile prefix offset)
  OffByOne,      // key t + 1 is visible too
};
MaskFault parse_mask_fault(const std::string& name);  // none|diagonal-tile|prefix-tile|off-by-one
std::string mask_fault_name(MaskFault fault);

// The chunk rows the check samples: 64 spread over the chunk, first and last included, plus the
// rows on both sides of the 64- and 128-row tile boundaries near the chunk's start and end. Sorted.
std::vector<int64_t> attention_check_rows(int64_t chunk);

struct AttentionReference {
  std::vector<float> out;  // [rows][heads][head_dim]
  double score_std = 0.0;  // standard deviation of the scaled scores over every (row, head, key)
};
// Reference outputs of the sampled rows (fp32 dot products, fp64 softmax), under `fault`.
AttentionReference attention_reference(const AttentionShape& shape, const std::vector<float>& q,
                                       const std::vector<float>& cache, const std::vector<int64_t>& rows,
                                       MaskFault fault = MaskFault::None);

// max |got - expected| / max |expected| over the sampled rows; `got` holds the whole output
// [chunk][heads][head_dim]. A non-finite value counts as an error of 1e30.
double attention_max_rel_error(const AttentionShape& shape, const std::vector<float>& expected,
                               const std::vector<float>& got, const std::vector<int64_t>& rows);

// The shape as JSON: { "heads", "kv_heads", "head_dim", "chunk", "prefix" }.
json::Value attention_shape_json(const AttentionShape& shape);

// CPU self-test of the check: the bench's inputs (seeded, Q scaled by q_scale), the reference, and
// an output computed under `fault`; { "shape", "q_scale", "fault", "rows_checked", "score_std",
// "max_rel_error", "tolerance", "pass" }.
json::Value attention_check_self_test(const AttentionShape& shape, float q_scale, MaskFault fault, uint64_t seed);

// The bench's inputs on the host, element for element what bench-attention writes on the device
// (weights.hpp random_uniform, tensors 0x7100 and 0x7101), before fp16 rounding.
std::vector<float> attention_check_q(const AttentionShape& shape, float q_scale, uint64_t seed);
std::vector<float> attention_check_cache(const AttentionShape& shape, uint64_t seed);
constexpr uint64_t kAttentionCheckQTensor = 0x7100;
constexpr uint64_t kAttentionCheckCacheTensor = 0x7101;

// The CPU emulation of one tiling's tile loop on the attention check's inputs (this file's
// shape, seed, Q scaled by q_scale), causal or dense-masked: for every chunk row, the keys it
// visits unmasked must be exactly [0, t] (counted as visibility errors otherwise), and its output
// from the tile-by-tile online softmax is compared with the reference on the check's sampled rows.
// { "tiling", "block_m", "block_n", "causal", "rows", "visibility_errors", "max_rel_error", "pass" }.
// `fault` breaks the emulated arithmetic on purpose, to show the check catches such slips:
// "skip-diagonal" skips a warp's tile that starts at its last row, "mask-last-row" decides whether a
// tile needs the mask from the warp's last row instead of its first, "limit-off-by-one" keeps key
// t + 1; "none" is the kernel's arithmetic.
json::Value flash_tiling_check(const FlashTiling& tiling, const AttentionShape& shape, bool causal, float q_scale,
                               uint64_t seed, const std::string& fault = "none");
// A tiling by name; nullptr when there is none.
const FlashTiling* find_flash_tiling(const std::string& name);


}  // namespace kvr
