#include "cpu_memory.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <new>

#include "kvr/error.hpp"

namespace kvr::cpu {

namespace {

// A number from a one-line cgroup file, or 0 when absent, "max", v1's huge sentinel or not a number.
double cgroup_bytes(const char* path) {
  std::ifstream file(path);
  std::string text;
  if (!(file >> text) || text == "max") return 0;
  try {
    const double value = std::stod(text);
    if (value > 0 && value < 1e18) return value;
  } catch (const std::exception&) {
    // Not a number: ignore this file.
  }
  return 0;
}

// What the cgroup still lets this process allocate (limit - usage), or 0 when it sets no limit.
double cgroup_headroom_bytes() {
  const char* limits[] = {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"};
  const char* usages[] = {"/sys/fs/cgroup/memory.current", "/sys/fs/cgroup/memory/memory.usage_in_bytes"};
  for (int i = 0; i < 2; ++i) {
    const double limit = cgroup_bytes(limits[i]);
    if (limit > 0) return std::max(1.0, limit - cgroup_bytes(usages[i]));
  }
  return 0;
}

// MemAvailable of /proc/meminfo in bytes (what can be allocated without swapping), or 0 when the
// file lacks it. KVR_MEMINFO names another file in that format (tests).
double meminfo_available_bytes() {
  const char* override_path = std::getenv("KVR_MEMINFO");
  std::ifstream file(override_path != nullptr && *override_path != '\0' ? override_path : "/proc/meminfo");
  std::string key;
  double kilobytes = 0;
  std::string unit;
  while (file >> key >> kilobytes) {
    std::getline(file, unit);
    if (key == "MemAvailable:") return kilobytes * 1024;
  }
  return 0;
}

}  // namespace

double usable_memory_bytes() {
  double bytes = meminfo_available_bytes();
  if (bytes == 0) {
    const long pages = sysconf(_SC_AVPHYS_PAGES);
    const long page_size = sysconf(_SC_PAGE_SIZE);
    bytes = (pages > 0 && page_size > 0) ? static_cast<double>(pages) * static_cast<double>(page_size) : 0;
  }
  const double headroom = cgroup_headroom_bytes();
  if (headroom > 0 && (bytes == 0 || headroom < bytes)) bytes = headroom;
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
                                         " on the CPU, " + format_gigabytes(available) +
                                         " is available (MemAvailable, or the cgroup's headroom)");
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
