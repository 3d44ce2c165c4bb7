#include "kvr/error.hpp"

#include <cstring>

namespace kvr {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::InvalidArgument: return "invalid-argument";
    case ErrorCode::InvalidPlan: return "invalid-plan";
    case ErrorCode::BuiltWithoutCuda: return "built-without-cuda";
    case ErrorCode::NoCudaDevice: return "no-cuda-device";
    case ErrorCode::NcclUnavailable: return "nccl-unavailable";
    case ErrorCode::OutOfMemory: return "out-of-memory";
    case ErrorCode::CudaError: return "cuda-error";
    case ErrorCode::Internal: return "internal";
  }
  return "internal";
}

namespace {
// "native/src/cpu/gemm.cpp" -> "cpu/gemm.cpp": enough to find it, short enough to read.
std::string short_path(const char* file) {
  const char* marker = std::strstr(file, "native/");
  std::string path = marker ? marker + std::strlen("native/") : file;
  if (path.rfind("src/", 0) == 0) path = path.substr(4);
  return path;
}
}  // namespace

Error::Error(ErrorCode code, const std::string& message, const char* file, int line)
    : std::runtime_error(message), code_(code), where_(short_path(file) + ":" + std::to_string(line)) {}

}  // namespace kvr
