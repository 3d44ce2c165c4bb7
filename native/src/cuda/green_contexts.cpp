// SM partitions with CUDA green contexts (green_contexts.hpp). Driver entry points come from
// cudaGetDriverEntryPointByVersion at the ABI version each was introduced with.
#include "green_contexts.hpp"

#include <cudaTypedefs.h>

#include <algorithm>
#include <string>

#include "check.hpp"
#include "kvr/error.hpp"

namespace kvr::cuda {
namespace {

constexpr int kGreenStreamDriver = 12050;  // cuGreenCtxStreamCreate

std::string version_text(int version) {
  return std::to_string(version / 1000) + "." + std::to_string((version % 1000) / 10);
}

// The driver functions this file calls, resolved once per process.
struct DriverApi {
  PFN_cuGetErrorString_v6000 get_error_string = nullptr;
  PFN_cuDeviceGet_v2000 device_get = nullptr;
  PFN_cuCtxPushCurrent_v4000 push_current = nullptr;
  PFN_cuCtxPopCurrent_v4000 pop_current = nullptr;
  PFN_cuDeviceGetDevResource_v12040 device_get_resource = nullptr;
  PFN_cuDevSmResourceSplitByCount_v12040 split_by_count = nullptr;
  PFN_cuDevResourceGenerateDesc_v12040 generate_desc = nullptr;
  PFN_cuGreenCtxCreate_v12040 green_create = nullptr;
  PFN_cuGreenCtxDestroy_v12040 green_destroy = nullptr;
  PFN_cuCtxFromGreenCtx_v12040 context_from_green = nullptr;
  PFN_cuGreenCtxStreamCreate_v12050 green_stream_create = nullptr;
};

template <class Function>
void resolve(Function& function, const char* symbol, unsigned version, int driver) {
  void* pointer = nullptr;
  cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSymbolNotFound;
  const cudaError_t status = cudaGetDriverEntryPointByVersion(symbol, &pointer, version, cudaEnableDefault, &found);
  if (status != cudaSuccess || found != cudaDriverEntryPointSuccess || pointer == nullptr) {
    (void)cudaGetLastError();
    KVR_FAIL(ErrorCode::NoCudaDevice,
             std::string("sm_partitions: the CUDA driver (") + version_text(driver) + ") has no " + symbol + " (" +
                 (status != cudaSuccess ? cudaGetErrorString(status)
                  : found == cudaDriverEntryPointVersionNotSufficent ? "driver too old"
                                                                      : "symbol not found") +
                 "); SM partitions need green contexts, CUDA 12.5 or newer");
  }
  function = reinterpret_cast<Function>(pointer);
}

DriverApi load_driver_api() {
  int driver = 0;
  const cudaError_t status = cudaDriverGetVersion(&driver);
  if (status != cudaSuccess || driver == 0) {
    (void)cudaGetLastError();
    KVR_FAIL(ErrorCode::NoCudaDevice, "sm_partitions: no CUDA driver");
  }
  KVR_CHECK(driver >= kGreenStreamDriver, ErrorCode::NoCudaDevice,
            "sm_partitions: SM partitions need green contexts, a CUDA " + version_text(kGreenStreamDriver) +
                " or newer driver; this one is " + version_text(driver));
  DriverApi api;
  resolve(api.get_error_string, "cuGetErrorString", 6000, driver);
  resolve(api.device_get, "cuDeviceGet", 2000, driver);
  resolve(api.push_current, "cuCtxPushCurrent", 4000, driver);
  resolve(api.pop_current, "cuCtxPopCurrent", 4000, driver);
  resolve(api.device_get_resource, "cuDeviceGetDevResource", 12040, driver);
  resolve(api.split_by_count, "cuDevSmResourceSplitByCount", 12040, driver);
  resolve(api.generate_desc, "cuDevResourceGenerateDesc", 12040, driver);
  resolve(api.green_create, "cuGreenCtxCreate", 12040, driver);
  resolve(api.green_destroy, "cuGreenCtxDestroy", 12040, driver);
  resolve(api.context_from_green, "cuCtxFromGreenCtx", 12040, driver);
  resolve(api.green_stream_create, "cuGreenCtxStreamCreate", 12050, driver);
  return api;
}

// Thread-safe once-only initialisation; a failure throws and the next call tries again.
const DriverApi& driver_api() {
  static const DriverApi api = load_driver_api();
  return api;
}

[[noreturn]] void fail_driver(const char* call, CUresult status, const char* file, int line) {
  const char* text = nullptr;
  if (driver_api().get_error_string(status, &text) != CUDA_SUCCESS || text == nullptr) text = "unknown driver error";
  const ErrorCode code = status == CUDA_ERROR_OUT_OF_MEMORY ? ErrorCode::OutOfMemory : ErrorCode::CudaError;
  throw Error(code, std::string(call) + ": " + text + " (CUresult " + std::to_string(static_cast<int>(status)) + ")",
              file, line);
}

}  // namespace
}  // namespace kvr::cuda

#define KVR_CU_CHECK(call)                                                        \
  do {                                                                            \
    const CUresult kvr_cu_status_ = (call);                                       \
    if (kvr_cu_status_ != CUDA_SUCCESS)                                           \
      ::kvr::cuda::fail_driver(#call, kvr_cu_status_, __FILE__, __LINE__);        \
  } while (0)

namespace kvr::cuda {

SmSplit split_sms(int device, int count) {
  KVR_CHECK(count >= 1, ErrorCode::InvalidArgument,
            "sm_partitions: expected a positive number of partitions, not " + std::to_string(count));
  const DriverApi& api = driver_api();
  cudaDeviceProp prop{};
  KVR_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  CUdevice handle = 0;
  KVR_CU_CHECK(api.device_get(&handle, device));
  CUdevResource whole{};
  KVR_CU_CHECK(api.device_get_resource(handle, &whole, CU_DEV_RESOURCE_TYPE_SM));

  SmSplit split;
  split.device = device;
  split.device_sms = static_cast<int>(whole.sm.smCount);
  // Equal groups, each a whole number of co-scheduled SM sets (the driver's alignment), as large
  // as count of them allow; the SMs left over stay unused so every rank gets the same slice.
  const int alignment = std::max(1, static_cast<int>(whole.sm.smCoscheduledAlignment));
  const int smallest = std::max(1, static_cast<int>(whole.sm.minSmPartitionSize));
  int size = split.device_sms / count;
  size -= size % alignment;
  const std::string device_text = std::string(prop.name) + " (device " + std::to_string(device) + ", " +
                                  std::to_string(split.device_sms) + " SMs, partitions of at least " +
                                  std::to_string(smallest) + " SMs in steps of " + std::to_string(alignment) + ")";
  KVR_CHECK(size >= smallest, ErrorCode::InvalidArgument,
            "sm_partitions: " + device_text + " cannot be split " + std::to_string(count) + " ways; at most " +
                std::to_string(std::max(1, split.device_sms / smallest)));
  split.groups.assign(static_cast<size_t>(count), CUdevResource{});
  unsigned int groups = static_cast<unsigned int>(count);
  CUdevResource rest{};
  KVR_CU_CHECK(api.split_by_count(split.groups.data(), &groups, &whole, &rest, 0, static_cast<unsigned int>(size)));
  KVR_CHECK(groups == static_cast<unsigned int>(count), ErrorCode::InvalidArgument,
            "sm_partitions: " + device_text + " gave " + std::to_string(groups) + " groups of " +
                std::to_string(size) + " SMs, not " + std::to_string(count));
  split.groups.resize(groups);
  split.partitions = static_cast<int>(groups);
  split.sms_per_partition = static_cast<int>(split.groups.front().sm.smCount);
  return split;
}

SmPartitions::SmPartitions(int device, int count) : split_(split_sms(device, count)) {
  const DriverApi& api = driver_api();
  CUdevice handle = 0;
  KVR_CU_CHECK(api.device_get(&handle, device));
  for (int i = 0; i < split_.partitions; ++i) {
    // Added before anything is created in it, so the destructor releases whatever was.
    partitions_.push_back(std::make_unique<SmPartition>());
    SmPartition& p = *partitions_.back();
    p.device = device;
    p.index = i;
    CUdevResource group = split_.groups[static_cast<size_t>(i)];
    p.sms = static_cast<int>(group.sm.smCount);
    CUdevResourceDesc desc = nullptr;
    KVR_CU_CHECK(api.generate_desc(&desc, &group, 1));
    KVR_CU_CHECK(api.green_create(&p.green, desc, handle, CU_GREEN_CTX_DEFAULT_STREAM));
    KVR_CU_CHECK(api.context_from_green(&p.context, p.green));
    p.origin_stream = create_partition_stream(p);
    PartitionScope scope(&p);
    KVR_CUDA_CHECK(cudaEventCreate(&p.origin));
  }
}

SmPartitions::~SmPartitions() {
  for (auto& partition : partitions_) {
    SmPartition& p = *partition;
    if (p.context != nullptr) {
      try {
        PartitionScope scope(&p);
        if (p.origin != nullptr) (void)cudaEventDestroy(p.origin);
        if (p.origin_stream != nullptr) (void)cudaStreamDestroy(p.origin_stream);
      } catch (...) {
        // Destruction goes on: the green context below is released whatever happened here.
      }
    }
    if (p.green != nullptr) (void)driver_api().green_destroy(p.green);
  }
  (void)cudaGetLastError();
}

PartitionScope::PartitionScope(SmPartition* partition) : partition_(partition) {
  if (partition_ == nullptr) return;
  lock_ = std::unique_lock<std::mutex>(partition_->mutex);
  KVR_CU_CHECK(driver_api().push_current(partition_->context));
}

PartitionScope::~PartitionScope() {
  if (partition_ == nullptr) return;
  CUcontext popped = nullptr;
  (void)driver_api().pop_current(&popped);
}

cudaStream_t create_partition_stream(SmPartition& partition) {
  CUstream stream = nullptr;
  KVR_CU_CHECK(driver_api().green_stream_create(&stream, partition.green, CU_STREAM_NON_BLOCKING, 0));
  return stream;
}

std::string describe_partitions(int partitions, const std::vector<int>& sms_per_partition) {
  std::vector<int> sizes = sms_per_partition;
  std::sort(sizes.begin(), sizes.end());
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
  std::string sms;
  for (const int size : sizes) sms += (sms.empty() ? "" : "/") + std::to_string(size);
  return std::to_string(partitions) + (partitions == 1 ? " SM partition of " : " SM partitions of ") + sms + " SMs";
}

}  // namespace kvr::cuda
