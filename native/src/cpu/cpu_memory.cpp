#include "cpu_memory.hpp"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <new>

#include "kvr/error.hpp"

namespace kvr::cpu {

namespace {

// A cgroup memory limit in bytes, or 0 when there is none (v2 "max", v1's huge sentinel, no file).
double cgroup_limit_bytes() {
  const char* paths[] = {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"};
  for (const char* path : paths) {
    std::ifstream file(path);
    std::string text;
    if (!(file >> text) || text == "max") continue;
    try {
      const double limit = std::stod(text);
      if (limit > 0 && limit < 1e18) return limit;
    } catch (const std::exception&) {
      // Not a number: ignore this file.
    }
  }
  return 0;
}

}  // namespace

double usable_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGE_SIZE);
  double bytes = (pages > 0 && page_size > 0) ? static_cast<double>(pages) * static_cast<double>(page_size) : 0;
  const double limit = cgroup_limit_bytes();
  if (limit > 0 && (bytes == 0 || limit < bytes)) bytes = limit;
  return bytes;
}

std::string format_gigabytes(double bytes) {
  char text[64];
  std::snprintf(text, sizeof text, "%.1f GB", bytes / 1e9);
  return text;
}

void check_fits_in_memory(double needed_bytes) {
  const double available = usable_memory_bytes();
  if (available > 0 && needed_bytes > available) {
    KVR_FAIL(ErrorCode::OutOfMemory, "out of memory: the plan needs " + format_gigabytes(needed_bytes) +
                                         " on the CPU, the machine has " + format_gigabytes(available));
  }
}

std::vector<float> allocate_floats(int64_t count, const char* what) {
  KVR_CHECK(count >= 0, ErrorCode::Internal, std::string("negative size for ") + what);
  try {
    return std::vector<float>(static_cast<size_t>(count), 0.0f);
  } catch (const std::bad_alloc&) {
    KVR_FAIL(ErrorCode::OutOfMemory, "out of memory: could not allocate " +
                                         format_gigabytes(static_cast<double>(count) * sizeof(float)) +
                                         " on the CPU for " + what);
  } catch (const std::length_error&) {
    KVR_FAIL(ErrorCode::OutOfMemory, std::string("out of memory: ") + what + " is too large for the CPU");
  }
}

}  // namespace kvr::cpu
