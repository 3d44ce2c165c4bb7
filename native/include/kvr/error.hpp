// Errors of the native executor. Every failure carries a stable code (turned into the `code` of
// the JavaScript exception) and the file:line where it was raised.
#pragma once

#include <stdexcept>
#include <string>

namespace kvr {

enum class ErrorCode {
  InvalidArgument,   // a bad option or value from the caller
  InvalidPlan,       // a plan that is malformed or inconsistent
  BuiltWithoutCuda,  // CUDA requested from a build that has no CUDA backend
  NoCudaDevice,      // CUDA backend built, but no usable device at run time
  NcclUnavailable,   // NCCL transport requested without NCCL support or devices
  OutOfMemory,       // host or device allocation failed
  CudaError,         // a CUDA/cuBLAS/NCCL call failed
  Internal,          // a broken invariant: a bug
};

// Stable, kebab-case name of a code: "invalid-plan", "out-of-memory", ...
const char* error_code_name(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message, const char* file, int line);
  ErrorCode code() const { return code_; }
  // "file.cpp:123"
  const std::string& where() const { return where_; }

 private:
  ErrorCode code_;
  std::string where_;
};

}  // namespace kvr

#define KVR_FAIL(code, message) throw ::kvr::Error((code), (message), __FILE__, __LINE__)
#define KVR_CHECK(condition, code, message) \
  do {                                      \
    if (!(condition)) KVR_FAIL(code, message); \
  } while (0)
