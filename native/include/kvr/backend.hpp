// A backend runs the ops of a plan on some device: the CPU reference (fp32) or CUDA (fp16).
// The executor (executor.hpp) owns the scheduling: one host thread per queue (a compute stream per
// rank, a channel per (src, dst) pair, as in the simulator) calls `issue` for each op once every
// dependency has been issued. A backend may run the op right away (CPU: issue returns when done)
// or enqueue it asynchronously (CUDA: device-side waits on the dependencies' events); `synchronize`
// waits for everything issued, after which `op_time` gives each op's start and end.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kvr/link_emulation.hpp"
#include "kvr/plan.hpp"

namespace kvr {

struct BackendOptions {
  uint64_t seed = 1234;            // weights and token ids are drawn from this seed
  std::string transport = "auto";  // cuda: "peer" (device-to-device copies) or "nccl"; cpu: "inproc"
  int device_offset = 0;           // cuda: rank r runs on device (device_offset + r) % device_count
  // cuda: 0 = ranks use whole devices. n > 0 = split each device's SMs into n equal partitions
  // with CUDA green contexts (cuDevSmResourceSplitByCount) and run rank r's compute stream (and,
  // with the peer transport, the copies it sends) on partition r % n of its device, so ranks
  // sharing a GPU compute like ranks on separate smaller GPUs (HBM bandwidth stays shared).
  // device() then reads e.g. "NVIDIA H200 x1, 8 SM partitions of 16 SMs". Needs a CUDA 12.5+
  // driver (green-context streams): NoCudaDevice otherwise; InvalidArgument when the device
  // cannot be split n ways. The cpu backend rejects n > 0 (InvalidArgument): it has no SMs.
  int sm_partitions = 0;
  // Emulated interconnect. When enabled, every transfer is paced by one LinkPacer shared by the
  // backend's channels before and while its data moves, so its op time is that of the emulated
  // links (route latency, max-min fair bandwidth) rather than of the host's memory. prepare()
  // fails with InvalidArgument when a (src, dst) the plan transfers over has no route.
  LinkEmulation links;
  // One process per GPU (ExecOptions::process_rank, kvr/process_group.hpp): this process runs only
  // rank `process_rank` of the plan, on device (device_offset + process_device) % device_count, and
  // reaches the other ranks' processes over NCCL (ncclCommInitRank over the plan's ranks, with the
  // ncclUniqueId bytes rank 0 made: make_nccl_unique_id in cuda_api.hpp). -1: every rank here.
  int process_rank = -1;
  int process_device = 0;
  std::string nccl_unique_id;
};

struct OpTime {
  double start_s = 0;  // seconds since the run's common start
  double end_s = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string name() const = 0;       // "cpu" or "cuda"
  virtual std::string device() const = 0;     // e.g. "cpu (x86_64)" or "NVIDIA H200 x1"
  virtual std::string transport() const = 0;  // "inproc", "peer" or "nccl"

  // Allocates weights (random from the seed, same on every rank) and each rank's state: hidden
  // states for its chunk, a K,V cache of plan.kv_tokens[rank] tokens per layer, scratch space.
  // Throws OutOfMemory when the plan does not fit.
  virtual void prepare(const Plan& plan) = 0;

  // Resets per-run state (embeds the input tokens again, clears caches) and marks the common
  // start of a run: op times are measured from here.
  virtual void begin_run() = 0;

  // Runs or enqueues one op. Called from the thread of the op's queue, after every dependency has
  // been issued; ops of one queue are issued in plan order. Must be safe to call concurrently for
  // ops of different queues.
  virtual void issue(const PlanOp& op) = 0;

  // Waits until every issued op is done; then op_time() is valid for this run.
  virtual void synchronize() = 0;
  virtual OpTime op_time(int op_id) const = 0;

  // After synchronize(): the last token's logits (vocab floats), from the last rank.
  virtual std::vector<float> last_logits() const = 0;
  // After synchronize(): rank's K,V cache as fp32, layout [layer][token][k|v][kv_head][head_dim],
  // over the plan.kv_tokens[rank] tokens it holds.
  virtual std::vector<float> kv_cache(int rank) const = 0;
};

// The CPU reference backend (always built).
std::unique_ptr<Backend> make_cpu_backend(const BackendOptions& options);

// The CUDA backend; throws BuiltWithoutCuda when this build has none, NoCudaDevice when no device
// can be used, NcclUnavailable when options.transport == "nccl" and NCCL is missing.
std::unique_ptr<Backend> make_cuda_backend(const BackendOptions& options);

// Backend by name: "cpu" or "cuda" (InvalidArgument otherwise).
std::unique_ptr<Backend> make_backend(const std::string& name, const BackendOptions& options);

}  // namespace kvr
