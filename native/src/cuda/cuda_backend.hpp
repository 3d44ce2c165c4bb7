// The CUDA backend (fp16): per-rank streams and cuBLAS handles, weights filled on the device once
// per GPU (ranks that share a GPU share them), K,V transfers over cudaMemcpyPeer / a copy kernel
// ("peer") or NCCL send/recv ("nccl"), and per-op CUDA events for the timeline.
//
// Timing: begin_run records a start event per device (device 0 first, every other device's after
// a wait on it) and makes every stream wait on its device's; each op records a start and an end
// event on the stream it runs on, after waiting on the end events of its dependencies (recorded
// already: the executor issues dependencies first). op_time is the event time since the start
// event of the same device.
//
// SM partitions (BackendOptions::sm_partitions, green_contexts.hpp): rank r's stream, cuBLAS
// handle and events live in green context r % n of its device, and every call that touches them
// runs inside that partition's PartitionScope (issue() runs on executor threads, so the context is
// made current per call rather than once per thread). Each partition has its own clock: an origin
// event recorded once the device's start event has passed, which every stream of the partition
// waits on; an op's time is its event's time since that origin plus the origin's offset from the
// start event (0 where the driver cannot time events of two contexts against each other: the
// origin then trails the start by the microseconds of one cross-stream wait).
//
// Emulated links (BackendOptions::links): a transfer's issue() (on its channel's thread) waits on
// the host for its dependencies' end events (cudaEventSynchronize), notes the host time, enqueues
// the copy, lets the shared LinkPacer hold it for the emulated link's time, and only then records
// its end event: the transfer ends at the later of its copy and its emulated link, never before
// the link has delivered it (the copy overlaps the link rather than adding to it). Its start is
// that host time on the run's timeline: host seconds since begin_run saw the common start event
// complete (cudaEventSynchronize); its end is the end event on the device timeline. The host sees
// the start event a few microseconds after the device passes it, so paced starts read early by
// that much (durations long by that much: a constant that the calibration's transfer overhead
// absorbs).
//
// One process per GPU (BackendOptions::process_rank >= 0, kvr/process_group.hpp): the backend
// holds only its own rank (ranks_ has one entry; state_of(r) finds a rank's state), on device
// (device_offset + process_device) % device_count, with one NCCL communicator over the plan's
// ranks (ncclCommInitRank with the id rank 0 published). A transfer has one half here: the send
// (its dependencies waited for on the send stream, then ncclSend) or the receive (ncclRecv on the
// receive stream, its data's producer being in another process); its events time that half.
// begin_run starts each run with a one-value ncclAllReduce on the origin stream before recording
// the start event, so every process's clock starts at the same barrier.
//
// Split over files: cuda_backend.cpp (set-up, memory, runs), cuda_ops.cpp (issue and the layer
// math), cuda_transport.cpp (transport choice, NCCL, transfers).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#if defined(KVR_WITH_NCCL)
#include <nccl.h>
#endif

#include "attention.hpp"
#include "green_contexts.hpp"
#include "kvr/backend.hpp"
#include "kvr/plan.hpp"

namespace kvr::cuda {

// One cudaMalloc, freed on destruction.
class DeviceAllocation {
 public:
  DeviceAllocation() = default;
  DeviceAllocation(int device, size_t bytes, const std::string& what);
  ~DeviceAllocation();
  DeviceAllocation(const DeviceAllocation&) = delete;
  DeviceAllocation& operator=(const DeviceAllocation&) = delete;
  char* data() const { return static_cast<char*>(pointer_); }

 private:
  int device_ = 0;
  void* pointer_ = nullptr;
};

// Carves typed buffers out of one allocation, 256-byte aligned. Run once with a null base to size
// the allocation, then again over it.
class Carver {
 public:
  explicit Carver(char* base) : base_(base) {}
  template <class T>
  T* take(int64_t count) {
    offset_ = (offset_ + 255) / 256 * 256;
    T* pointer = base_ != nullptr ? reinterpret_cast<T*>(base_ + offset_) : nullptr;
    offset_ += static_cast<size_t>(count) * sizeof(T);
    return pointer;
  }
  size_t bytes() const { return offset_; }

 private:
  char* base_;
  size_t offset_ = 0;
};

// Weights of one device (MODEL.md, weights.hpp), fp16 matrices and fp32 norm parameters.
struct DeviceWeights {
  struct Layer {
    float* attn_norm_scale = nullptr;
    float* attn_norm_bias = nullptr;  // LayerNorm only
    __half* wqkv = nullptr;           // [d][(h + 2 h_kv) hd]
    __half* wo = nullptr;             // [h hd][d]
    float* mlp_norm_scale = nullptr;  // sequential blocks only
    float* mlp_norm_bias = nullptr;   // sequential + LayerNorm only
    __half* w_gate_up = nullptr;      // [d][2f] (swiglu: gate, up) or [d][f] (gelu: up)
    __half* w_down = nullptr;         // [f][d]
  };
  int device = 0;
  std::unique_ptr<DeviceAllocation> memory;
  __half* embedding = nullptr;        // [V][d]
  float* final_norm_scale = nullptr;
  float* final_norm_bias = nullptr;
  __half* lm_head = nullptr;          // [V][d]; the embedding when tied
  std::vector<Layer> layers;
};

// Everything one rank owns on its device.
struct RankState {
  int rank = 0;
  int device = 0;
  int64_t tokens = 0;     // c
  int64_t prefix = 0;     // P
  int64_t kv_tokens = 0;  // positions [0, kv_tokens) of the cache
  SmPartition* partition = nullptr;  // null: the whole device (primary context)
  cudaStream_t stream = nullptr;      // in the partition's green context when there is one
  cublasHandle_t cublas = nullptr;
  DeviceWeights* weights = nullptr;
  std::unique_ptr<DeviceAllocation> memory;
  __half* h = nullptr;         // [c][d] hidden states
  __half* x = nullptr;         // [c][d] norm output (kept from qkv to mlp in a parallel block)
  __half* qkv = nullptr;       // [c][(h + 2 h_kv) hd]; q rotated in place
  __half* attn = nullptr;      // [c][h hd]
  __half* a = nullptr;         // [c][d] o output (parallel block only)
  __half* mid = nullptr;       // [c][2f] or [c][f]: x . W_gate_up
  __half* act = nullptr;       // [c][f] SwiGLU output (swiglu only)
  __half* m = nullptr;         // [c][d] MLP output (parallel block only)
  __half* cache = nullptr;     // [L][kv_tokens][2][h_kv][hd]
  __half* lm_x = nullptr;      // [d] final norm of the last row
  float* logits = nullptr;     // [V]
  void* cublas_workspace = nullptr;
  __half* cache_layer(int layer, int64_t row_elements) const {
    return cache + static_cast<int64_t>(layer) * kv_tokens * row_elements;
  }
};

// The streams of one (src, dst) queue of transfers.
struct Channel {
  int src = 0;
  int dst = 0;
  int src_device = -1;  // -1: that end is in another process (one process per GPU)
  int dst_device = -1;
  cudaStream_t send = nullptr;  // on src's device: copies (peer) or ncclSend (nccl); null when src is remote
  cudaStream_t recv = nullptr;  // on dst's device, nccl only: ncclRecv; null when dst is remote
  SmPartition* partition = nullptr;  // send's partition: the source rank's (peer with partitions)
};

struct OpEvents {
  cudaEvent_t start = nullptr;
  cudaEvent_t end = nullptr;
  int start_device = 0;
  int end_device = 0;
  SmPartition* start_partition = nullptr;  // the context each event was created and is recorded in
  SmPartition* end_partition = nullptr;
};

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(const BackendOptions& options);
  ~CudaBackend() override;

  std::string name() const override { return "cuda"; }
  std::string device() const override { return device_description_; }
  std::string transport() const override { return transport_; }
  void prepare(const Plan& plan) override;
  void begin_run() override;
  void issue(const PlanOp& op) override;
  void synchronize() override;
  OpTime op_time(int op_id) const override;
  std::vector<float> last_logits() const override;
  std::vector<float> kv_cache(int rank) const override;

 private:
  // cuda_backend.cpp
  bool one_process_per_gpu() const { return options_.process_rank >= 0; }
  int own_device() const { return (options_.device_offset + options_.process_device) % device_count_; }
  bool is_local(int rank) const { return rank_index_[static_cast<size_t>(rank)] >= 0; }
  RankState& state_of(int rank) const;
  void release() noexcept;
  void allocate_weights(DeviceWeights& w);
  size_t carve_weights(DeviceWeights& w, char* base) const;
  size_t carve_rank(RankState& r, char* base) const;
  void fill_weights(const DeviceWeights& w, cudaStream_t stream) const;
  void check_memory(const std::vector<int>& devices) const;
  void create_partitions();
  cudaEvent_t start_of(int device) const;  // the device's start event
  // Seconds from the common start to `event` (recorded in `partition`, or on the device's primary
  // context when null), on the device timeline.
  double event_time_s(cudaEvent_t event, int device, SmPartition* partition) const;
  // cuda_ops.cpp
  void issue_compute(const PlanOp& op);
  void wait_for_dependencies(const PlanOp& op, cudaStream_t stream) const;
  // cuda_transport.cpp
  std::string resolve_transport(const Plan& plan) const;
  void init_transport(const Plan& plan);
  void release_transport() noexcept;
  void issue_transfer(const PlanOp& op);
  void issue_transfer_half(const PlanOp& op, Channel& ch);  // one process per GPU
  Channel& channel(int src, int dst);

  BackendOptions options_;
  int device_count_ = 0;
  std::string device_description_;
  std::string transport_;  // "peer" or "nccl" once prepared
  bool prepared_ = false;

  Plan plan_;
  int64_t row_elements_ = 0;  // 2 h_kv hd: one cache row (one position of one layer)
  AttentionKernel attention_kernel_ = AttentionKernel::kSimple;
  std::vector<int> devices_;  // distinct devices of the plan's ranks, ascending
  std::vector<std::unique_ptr<DeviceWeights>> weights_;
  std::vector<std::unique_ptr<RankState>> ranks_;  // the ranks run here (all, or this process's)
  std::vector<int> rank_index_;                     // rank -> index in ranks_ (-1: another process)
  std::vector<Channel> channels_;
  std::vector<OpEvents> events_;  // by op id
  std::vector<cudaStream_t> origin_streams_;  // by index in devices_
  std::vector<cudaEvent_t> start_events_;     // by index in devices_
  std::vector<int> device_index_;             // device -> index in devices_ (-1: unused)
  std::vector<std::unique_ptr<SmPartitions>> partitions_;  // by index in devices_; empty: whole devices
  std::unique_ptr<LinkPacer> pacer_;          // emulated links, shared by every channel thread
  std::chrono::steady_clock::time_point run_start_host_;  // when the host saw the common start
  std::vector<double> paced_start_s_;         // by op id: host start of paced transfers (run seconds)
#if defined(KVR_WITH_NCCL)
  std::unique_ptr<DeviceAllocation> barrier_;  // one float for begin_run's all-reduce (one process per GPU)
  std::vector<ncclComm_t> comms_;  // by rank (one process per GPU: only its own is set)
  std::mutex nccl_mutex_;          // NCCL calls on shared communicators are serialised
#endif
};

}  // namespace kvr::cuda
