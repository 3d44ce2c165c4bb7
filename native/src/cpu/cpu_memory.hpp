// Host memory for the CPU backend: how much the machine has, and allocations that fail with
// OutOfMemory (never std::bad_alloc) so the caller sees a coded error.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kvr::cpu {

// Physical memory this process may use, in bytes: the machine's RAM, or the cgroup limit when
// that is smaller (containers).
double usable_memory_bytes();

// "27.3 GB"
std::string format_gigabytes(double bytes);

// Throws OutOfMemory naming both sizes when `needed_bytes` exceeds usable_memory_bytes().
void check_fits_in_memory(double needed_bytes);

// A zero-filled buffer of `count` floats; OutOfMemory (naming `what`) when it cannot be allocated.
std::vector<float> allocate_floats(int64_t count, const char* what);

}  // namespace kvr::cpu
