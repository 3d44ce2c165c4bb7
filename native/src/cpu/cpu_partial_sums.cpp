#include "cpu_partial_sums.hpp"

#include <algorithm>
#include <cstring>

#include "cpu_memory.hpp"
#include "kvr/plan.hpp"

namespace kvr::cpu {

void PartialSums::allocate(int64_t row_count, int64_t d, int ranks, const std::vector<int>& senders) {
  rows = row_count;
  width = d;
  slots.assign(kPartialSlots, PartialSlot{});
  for (PartialSlot& slot : slots) {
    slot.own = allocate_floats(rows * width, "tensor-parallel partial sums");
    slot.reduced = allocate_floats(rows * width, "tensor-parallel partial sums");
    slot.gathered.assign(static_cast<size_t>(rows), 0);
    slot.inbox.assign(static_cast<size_t>(ranks), std::vector<float>());
    for (const int sender : senders) {
      slot.inbox[static_cast<size_t>(sender)] = allocate_floats(rows * width, "tensor-parallel partial sums");
    }
  }
}

double PartialSums::bytes(int64_t rows, int64_t width, size_t senders) {
  return kPartialSlots * (sizeof(float) * static_cast<double>(rows) * width * (2.0 + static_cast<double>(senders)) +
                          static_cast<double>(rows));
}

void PartialSums::restart(int slot) {
  PartialSlot& s = slots[static_cast<size_t>(slot)];
  std::fill(s.gathered.begin(), s.gathered.end(), 0);
  for (std::vector<float>& inbox : s.inbox) std::fill(inbox.begin(), inbox.end(), 0.0f);
}

void PartialSums::value(int slot, int64_t first, int64_t count, float* out) const {
  const PartialSlot& s = slots[static_cast<size_t>(slot)];
  for (int64_t r = 0; r < count; ++r) {
    const int64_t row = first + r;
    float* destination = out + r * width;
    if (s.gathered[static_cast<size_t>(row)] != 0) {
      std::memcpy(destination, s.reduced.data() + row * width, sizeof(float) * width);
      continue;
    }
    std::memcpy(destination, s.own.data() + row * width, sizeof(float) * width);
    for (const std::vector<float>& inbox : s.inbox) {
      if (inbox.empty()) continue;
      const float* received = inbox.data() + row * width;
      for (int64_t i = 0; i < width; ++i) destination[i] += received[i];
    }
  }
}

void PartialSums::add_value_to(int slot, int64_t first, int64_t count, float* h) const {
  std::vector<float> row(static_cast<size_t>(width));
  for (int64_t r = 0; r < count; ++r) {
    value(slot, first + r, 1, row.data());
    float* destination = h + r * width;
    for (int64_t i = 0; i < width; ++i) destination[i] += row[static_cast<size_t>(i)];
  }
}

}  // namespace kvr::cpu
