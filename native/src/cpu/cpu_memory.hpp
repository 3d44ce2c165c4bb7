// Host memory for the CPU backend: how much the machine has, and allocations that fail with
// OutOfMemory (never std::bad_alloc) so the caller sees a coded error.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kvr::cpu {

// Memory this process can allocate now, in bytes: /proc/meminfo's MemAvailable (free memory plus
// reclaimable caches, not the machine's total), or the cgroup's limit minus its usage when that is
// smaller (containers).
double usable_memory_bytes();

// "27.3 GB"
std::string format_gigabytes(double bytes);

// Throws OutOfMemory naming both sizes when `needed_bytes` exceeds usable_memory_bytes().
void check_fits_in_memory(double needed_bytes);

// A zero-filled buffer of `count` floats; OutOfMemory (naming `what`) when it cannot be allocated.
std::vector<float> allocate_floats(int64_t count, const char* what);

}  // namespace kvr::cpu
