#include "kvr/backend.hpp"
#include "kvr/error.hpp"
#include "kvr/json.hpp"

namespace kvr {

std::unique_ptr<Backend> make_backend(const std::string& name, const BackendOptions& options) {
  if (name == "cpu") return make_cpu_backend(options);
  if (name == "cuda") return make_cuda_backend(options);
  KVR_FAIL(ErrorCode::InvalidArgument,
           "backend: expected cpu or cuda (got " + json::stringify(json::Value(name)) + ")");
}

}  // namespace kvr
