// SM partitions of one GPU (BackendOptions::sm_partitions): the device's SMs split into equal
// groups with CUDA green contexts, one group per rank, so several ranks on one GPU compute as
// ranks on separate, smaller GPUs would (each partition's kernels run only on its own SMs; HBM
// bandwidth and L2 stay shared). Memory from cudaMalloc is usable from every partition.
//
// The driver entry points are resolved at run time with cudaGetDriverEntryPointByVersion, so
// nothing here needs libcuda at link time and a driver without green contexts is a clear error
// (NoCudaDevice) rather than a failure to load. Green-context streams (cuGreenCtxStreamCreate)
// need a CUDA 12.5 driver or newer.
//
// Threads: the driver does not synchronise API calls on one green context made from several
// threads, and a green context may be current to one thread at a time. Every use of a partition
// therefore goes through PartitionScope, which holds the partition's lock and pushes its context
// for the scope, and pops it again, so the thread's own context (the device's primary, set by
// cudaSetDevice) is back afterwards. Scopes are short (enqueueing work); never wait on the host
// inside one, or a thread that needs the partition to enqueue the awaited work would block.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <cuda.h>
#include <cuda_runtime.h>

namespace kvr::cuda {

// How a device's SMs split into `partitions` equal groups (nothing created yet).
struct SmSplit {
  int device = 0;
  int device_sms = 0;         // SMs of the whole device
  int partitions = 0;         // groups, as many as asked
  int sms_per_partition = 0;  // SMs of each group
  std::vector<CUdevResource> groups;
};

// Splits device's SMs into `count` groups of equal size, as large as the device's SM alignment
// allows. NoCudaDevice when the driver has no green contexts; InvalidArgument when the device
// cannot be split `count` ways.
SmSplit split_sms(int device, int count);

// One partition: a green context, the lock that keeps it current on one thread at a time, and
// its clock for op times (`origin`, recorded at the start of every run on `origin_stream`).
struct SmPartition {
  int device = 0;
  int index = 0;
  int sms = 0;
  CUgreenCtx green = nullptr;
  CUcontext context = nullptr;  // cuCtxFromGreenCtx(green)
  std::mutex mutex;
  cudaStream_t origin_stream = nullptr;
  cudaEvent_t origin = nullptr;
  // origin - the device's start event, when the driver can time events of different contexts
  // against each other; 0 otherwise (origin then follows the start event by microseconds).
  double origin_offset_s = 0;
};

// The partitions of one device: green contexts created from split_sms(device, count), each with
// its origin stream and event.
class SmPartitions {
 public:
  SmPartitions(int device, int count);
  ~SmPartitions();
  SmPartitions(const SmPartitions&) = delete;
  SmPartitions& operator=(const SmPartitions&) = delete;

  int size() const { return static_cast<int>(partitions_.size()); }
  SmPartition& at(int index) { return *partitions_[static_cast<size_t>(index)]; }
  const SmSplit& split() const { return split_; }

 private:
  SmSplit split_;
  std::vector<std::unique_ptr<SmPartition>> partitions_;
};

// Makes a partition current on this thread for the scope, holding its lock. A null partition
// (no partitions: the device's primary context) does nothing.
class PartitionScope {
 public:
  explicit PartitionScope(SmPartition* partition);
  ~PartitionScope();
  PartitionScope(const PartitionScope&) = delete;
  PartitionScope& operator=(const PartitionScope&) = delete;

 private:
  SmPartition* partition_;
  std::unique_lock<std::mutex> lock_;
};

// A non-blocking stream whose work runs on the partition's SMs (cuGreenCtxStreamCreate).
cudaStream_t create_partition_stream(SmPartition& partition);

// "8 SM partitions of 16 SMs" (the SM counts of several devices joined with "/" when they differ).
std::string describe_partitions(int partitions, const std::vector<int>& sms_per_partition);

}  // namespace kvr::cuda
