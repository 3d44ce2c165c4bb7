// Partial sums of a tensor-parallel rank (native/MODEL.md, "Tensor parallelism"): the o and mlp
// outputs of its shard, what reduce-scatters sent it and what all-gathers gave it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kvr::cpu {

// One slot (include/kvr/plan.hpp partial_slot): the output of one o or mlp op over the rank's rows.
struct PartialSlot {
  std::vector<float> own;                 // [rows, d] this rank's partial sums
  std::vector<float> reduced;             // [rows, d] rows an all-gather delivered, summed over the group
  std::vector<uint8_t> gathered;          // [rows] whether the row's value is in `reduced`
  std::vector<std::vector<float>> inbox;  // by source rank: [rows, d] what its reduce-scatter sent (empty: none)
};

struct PartialSums {
  int64_t rows = 0;
  int64_t width = 0;  // d
  std::vector<PartialSlot> slots;

  // Allocates kPartialSlots slots, each with an inbox for every rank in `senders`.
  void allocate(int64_t rows, int64_t width, int ranks, const std::vector<int>& senders);
  // Bytes allocate() takes.
  static double bytes(int64_t rows, int64_t width, size_t senders);

  // The slot's producer (an o or mlp op) wrote `own`: forget last use's deliveries.
  void restart(int slot);

  // out[0 .. count rows) = the value of rows [first, first + count): the all-gathered sum, or the
  // own partial sums plus every inbox in rank order (a fixed order: runs are bit-identical).
  void value(int slot, int64_t first, int64_t count, float* out) const;
  // h[0 .. count rows) += value of rows [first, first + count).
  void add_value_to(int slot, int64_t first, int64_t count, float* h) const;
};

}  // namespace kvr::cpu
