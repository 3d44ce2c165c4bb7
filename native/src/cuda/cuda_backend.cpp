// CudaBackend: set-up (devices, memory estimate, allocation, seeded weights), runs (begin_run,
// synchronize, op times) and read-back. Ops are issued in cuda_ops.cpp, transfers in
// cuda_transport.cpp.
#include "cuda_backend.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>

#include "check.hpp"
#include "elementwise.hpp"
#include "kvr/weights.hpp"
#include "library_check.hpp"

namespace kvr::cuda {
namespace {

constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;  // what cuBLAS recommends on Hopper
constexpr size_t kReservePerDevice = size_t{512} << 20;     // CUDA context, cuBLAS handles, NCCL buffers
constexpr size_t kReservePerRank = size_t{64} << 20;

std::string gigabytes(double bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f GB", bytes / 1e9);
  return text;
}

std::string device_name(int device) {
  cudaDeviceProp prop{};
  KVR_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  return prop.name;
}

// Runs `release` inside the partition's scope, swallowing failures: for teardown, which must go on.
template <class Release>
void release_in(SmPartition* partition, Release release) noexcept {
  try {
    PartitionScope scope(partition);
    release();
  } catch (...) {
  }
}

}  // namespace

DeviceAllocation::DeviceAllocation(int device, size_t bytes, const std::string& what) : device_(device) {
  KVR_CUDA_CHECK(cudaSetDevice(device));
  const cudaError_t status = cudaMalloc(&pointer_, bytes > 0 ? bytes : 1);
  if (status != cudaSuccess) {
    pointer_ = nullptr;
    (void)cudaGetLastError();
    size_t free_bytes = 0;
    size_t total_bytes = 0;
    (void)cudaMemGetInfo(&free_bytes, &total_bytes);
    KVR_FAIL(status == cudaErrorMemoryAllocation ? ErrorCode::OutOfMemory : ErrorCode::CudaError,
             "out of memory: cudaMalloc of " + gigabytes(static_cast<double>(bytes)) + " for " + what + " on device " +
                 std::to_string(device) + " failed (" + cudaGetErrorString(status) + "), it has " +
                 gigabytes(static_cast<double>(free_bytes)) + " free");
  }
}

DeviceAllocation::~DeviceAllocation() {
  if (pointer_ != nullptr) {
    (void)cudaSetDevice(device_);
    (void)cudaFree(pointer_);
  }
}

CudaBackend::CudaBackend(const BackendOptions& options) : options_(options) {
  const cudaError_t status = cudaGetDeviceCount(&device_count_);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();
    KVR_FAIL(ErrorCode::NoCudaDevice, std::string("no CUDA device: ") + cudaGetErrorString(status));
  }
  KVR_CHECK(device_count_ > 0, ErrorCode::NoCudaDevice, "no CUDA device: cudaGetDeviceCount found none");
  const std::string& t = options_.transport;
  KVR_CHECK(t == "auto" || t == "peer" || t == "nccl", ErrorCode::InvalidArgument,
            "transport: expected auto, peer or nccl for the cuda backend, not \"" + t + "\"");
#if !defined(KVR_WITH_NCCL)
  KVR_CHECK(t != "nccl", ErrorCode::NcclUnavailable,
            "NCCL transport requested, but this build has no NCCL (nccl.h and libnccl were not found when it was "
            "configured); use --transport peer");
#endif
  KVR_CHECK(options_.device_offset >= 0, ErrorCode::InvalidArgument,
            "device offset must be >= 0, not " + std::to_string(options_.device_offset));
  KVR_CHECK(options_.sm_partitions >= 0, ErrorCode::InvalidArgument,
            "sm_partitions: expected 0 (whole devices) or a number of partitions per device, not " +
                std::to_string(options_.sm_partitions));
  if (one_process_per_gpu()) {
    // Checked here too (kvr-exec run checks first): the backend may be driven by other callers.
#if !defined(KVR_WITH_NCCL)
    KVR_FAIL(ErrorCode::NcclUnavailable,
             "one process per GPU needs NCCL, and this build has none (nccl.h and libnccl were not found when it was "
             "configured)");
#else
    KVR_CHECK(options_.nccl_unique_id.size() == sizeof(ncclUniqueId), ErrorCode::InvalidArgument,
              "nccl_unique_id: expected the " + std::to_string(sizeof(ncclUniqueId)) +
                  " bytes of rank 0's ncclGetUniqueId (got " + std::to_string(options_.nccl_unique_id.size()) + ")");
#endif
    KVR_CHECK(t == "auto" || t == "nccl", ErrorCode::InvalidArgument,
              "transport: one process per GPU moves K,V over NCCL: expected auto or nccl, not \"" + t + "\"");
    KVR_CHECK(options_.sm_partitions == 0, ErrorCode::InvalidArgument,
              "sm_partitions: expected 0 with one process per GPU (it splits one process's GPU among its ranks)");
    KVR_CHECK(!options_.links.enabled(), ErrorCode::InvalidArgument,
              "links: emulated links pace transfers inside one process; one process per GPU runs on the real links");
    KVR_CHECK(options_.process_device >= 0, ErrorCode::InvalidArgument,
              "process_device: expected the local rank (>= 0), not " + std::to_string(options_.process_device));
  }
  const int first_device = one_process_per_gpu() ? own_device() : options_.device_offset % device_count_;
  device_description_ = device_name(first_device) + " x1";
  if (options_.sm_partitions > 0) {
    // Splitting creates nothing; doing it here reports an unsupported driver or device before any
    // plan is prepared, and names the layout from the start.
    const SmSplit split = split_sms(first_device, options_.sm_partitions);
    device_description_ += ", " + describe_partitions(split.partitions, {split.sms_per_partition});
  }
#if defined(KVR_WITH_NCCL)
  transport_ = one_process_per_gpu() ? "nccl" : t == "auto" ? (device_count_ > 1 ? "nccl" : "peer") : t;
#else
  transport_ = t == "auto" ? "peer" : t;
#endif
}

CudaBackend::~CudaBackend() { release(); }

RankState& CudaBackend::state_of(int rank) const {
  KVR_CHECK(rank >= 0 && static_cast<size_t>(rank) < rank_index_.size() && is_local(rank), ErrorCode::Internal,
            "cuda backend: rank " + std::to_string(rank) + " is not run by this process");
  return *ranks_[static_cast<size_t>(rank_index_[static_cast<size_t>(rank)])];
}

void CudaBackend::release() noexcept {
  for (int device : devices_) {
    (void)cudaSetDevice(device);
    (void)cudaDeviceSynchronize();
  }
  (void)cudaGetLastError();
  for (OpEvents& e : events_) {
    if (e.start != nullptr) {
      (void)cudaSetDevice(e.start_device);
      release_in(e.start_partition, [&] { (void)cudaEventDestroy(e.start); });
    }
    if (e.end != nullptr) {
      (void)cudaSetDevice(e.end_device);
      release_in(e.end_partition, [&] { (void)cudaEventDestroy(e.end); });
    }
  }
  events_.clear();
  paced_start_s_.clear();
  pacer_.reset();
  release_transport();
  for (auto& r : ranks_) {
    (void)cudaSetDevice(r->device);
    release_in(r->partition, [&] {
      if (r->cublas != nullptr) (void)cublasDestroy(r->cublas);
      if (r->stream != nullptr) (void)cudaStreamDestroy(r->stream);
    });
  }
  ranks_.clear();
  rank_index_.clear();
  weights_.clear();
#if defined(KVR_WITH_NCCL)
  barrier_.reset();
#endif
  for (size_t i = 0; i < devices_.size(); ++i) {
    (void)cudaSetDevice(devices_[i]);
    if (i < start_events_.size() && start_events_[i] != nullptr) (void)cudaEventDestroy(start_events_[i]);
    if (i < origin_streams_.size() && origin_streams_[i] != nullptr) (void)cudaStreamDestroy(origin_streams_[i]);
  }
  start_events_.clear();
  origin_streams_.clear();
  partitions_.clear();  // after every stream and event created in them
  (void)cudaGetLastError();
  devices_.clear();
  device_index_.clear();
  prepared_ = false;
}

size_t CudaBackend::carve_weights(DeviceWeights& w, char* base) const {
  const ModelConfig& m = plan_.model;
  const int64_t d = m.hidden;
  const int64_t v = m.vocab;
  const int64_t f = m.ffn;
  const int64_t qkv_cols = static_cast<int64_t>(m.heads + 2 * m.kv_heads) * m.head_dim;
  const int64_t attn_cols = static_cast<int64_t>(m.heads) * m.head_dim;
  Carver c(base);
  w.embedding = c.take<__half>(v * d);
  w.final_norm_scale = c.take<float>(d);
  w.final_norm_bias = m.layernorm ? c.take<float>(d) : nullptr;
  w.lm_head = m.tied_embeddings ? w.embedding : c.take<__half>(v * d);
  w.layers.assign(static_cast<size_t>(m.layers), DeviceWeights::Layer{});
  for (DeviceWeights::Layer& layer : w.layers) {
    layer.attn_norm_scale = c.take<float>(d);
    layer.attn_norm_bias = m.layernorm ? c.take<float>(d) : nullptr;
    layer.wqkv = c.take<__half>(d * qkv_cols);
    layer.wo = c.take<__half>(attn_cols * d);
    if (!m.parallel_block) {
      layer.mlp_norm_scale = c.take<float>(d);
      layer.mlp_norm_bias = m.layernorm ? c.take<float>(d) : nullptr;
    }
    layer.w_gate_up = c.take<__half>(d * (m.swiglu ? 2 * f : f));
    layer.w_down = c.take<__half>(f * d);
  }
  return c.bytes();
}

size_t CudaBackend::carve_rank(RankState& r, char* base) const {
  const ModelConfig& m = plan_.model;
  const int64_t c = r.tokens;
  const int64_t d = m.hidden;
  const int64_t f = m.ffn;
  Carver carver(base);
  r.h = carver.take<__half>(c * d);
  r.x = carver.take<__half>(c * d);
  r.qkv = carver.take<__half>(c * (m.heads + 2 * m.kv_heads) * m.head_dim);
  r.attn = carver.take<__half>(c * m.heads * m.head_dim);
  r.a = m.parallel_block ? carver.take<__half>(c * d) : nullptr;
  r.mid = carver.take<__half>(c * (m.swiglu ? 2 * f : f));
  r.act = m.swiglu ? carver.take<__half>(c * f) : nullptr;
  r.m = m.parallel_block ? carver.take<__half>(c * d) : nullptr;
  r.cache = carver.take<__half>(static_cast<int64_t>(m.layers) * r.kv_tokens * row_elements_);
  r.lm_x = carver.take<__half>(d);
  r.logits = carver.take<float>(m.vocab);
  r.cublas_workspace = carver.take<char>(static_cast<int64_t>(kCublasWorkspaceBytes));
  return carver.bytes();
}

void CudaBackend::check_memory(const std::vector<int>& rank_devices) const {
  const ModelConfig& m = plan_.model;
  DeviceWeights sizing;
  const size_t weight_bytes = carve_weights(sizing, nullptr);
  for (int device : devices_) {
    size_t cache_bytes = 0;
    size_t rank_bytes = 0;
    int ranks_here = 0;
    for (size_t r = 0; r < rank_devices.size(); ++r) {
      if (rank_devices[r] != device) continue;
      RankState state;
      state.tokens = plan_.partition[r];
      state.kv_tokens = plan_.kv_tokens[r];
      rank_bytes += carve_rank(state, nullptr);
      cache_bytes += static_cast<size_t>(m.layers) * static_cast<size_t>(state.kv_tokens) *
                     static_cast<size_t>(row_elements_) * sizeof(__half);
      ++ranks_here;
    }
    const size_t needed = weight_bytes + rank_bytes;
    const size_t reserve = kReservePerDevice + kReservePerRank * static_cast<size_t>(ranks_here);
    KVR_CUDA_CHECK(cudaSetDevice(device));
    size_t free_bytes = 0;
    size_t total_bytes = 0;
    KVR_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    if (needed + reserve > free_bytes) {
      KVR_FAIL(ErrorCode::OutOfMemory,
               "out of memory: the plan needs " + gigabytes(static_cast<double>(needed)) + " on " + device_name(device) +
                   " (device " + std::to_string(device) + "), it has " + gigabytes(static_cast<double>(free_bytes)) +
                   " free (weights " + gigabytes(static_cast<double>(weight_bytes)) + ", K,V cache " +
                   gigabytes(static_cast<double>(cache_bytes)) + ", activations and workspace " +
                   gigabytes(static_cast<double>(rank_bytes - cache_bytes)) + " for " + std::to_string(ranks_here) +
                   " rank(s), plus " + gigabytes(static_cast<double>(reserve)) + " kept for the runtime)");
    }
  }
}

void CudaBackend::fill_weights(const DeviceWeights& w, cudaStream_t stream) const {
  const ModelConfig& m = plan_.model;
  const int64_t d = m.hidden;
  const int64_t v = m.vocab;
  const int64_t f = m.ffn;
  const int64_t qkv_cols = static_cast<int64_t>(m.heads + 2 * m.kv_heads) * m.head_dim;
  const int64_t attn_cols = static_cast<int64_t>(m.heads) * m.head_dim;
  const auto fill = [&](void* out, int64_t count, uint64_t tensor, float scale, float offset, bool fp32) {
    if (out == nullptr) return;
    WeightInitParams p;
    p.out = out;
    p.fp32 = fp32;
    p.count = count;
    p.seed = options_.seed;
    p.tensor = tensor;
    p.scale = scale;
    p.offset = offset;
    launch_weight_init(p, stream);
  };
  // As the CPU reference computes them (double, then rounded to float).
  const auto inv_sqrt = [](int64_t n) { return static_cast<float>(1.0 / std::sqrt(static_cast<double>(n))); };
  fill(w.embedding, v * d, kEmbedding, 1.0f, 0.0f, false);
  fill(w.final_norm_scale, d, kFinalNormScale, 0.1f, 1.0f, true);
  fill(w.final_norm_bias, d, kFinalNormBias, 0.1f, 0.0f, true);
  if (!m.tied_embeddings) fill(w.lm_head, v * d, kLmHead, inv_sqrt(d), 0.0f, false);
  for (int l = 0; l < m.layers; ++l) {
    const DeviceWeights::Layer& layer = w.layers[static_cast<size_t>(l)];
    fill(layer.attn_norm_scale, d, layer_tensor(l, kAttnNormScale), 0.1f, 1.0f, true);
    fill(layer.attn_norm_bias, d, layer_tensor(l, kAttnNormBias), 0.1f, 0.0f, true);
    fill(layer.wqkv, d * qkv_cols, layer_tensor(l, kWqkv), inv_sqrt(d), 0.0f, false);
    fill(layer.wo, attn_cols * d, layer_tensor(l, kWo), inv_sqrt(attn_cols), 0.0f, false);
    fill(layer.mlp_norm_scale, d, layer_tensor(l, kMlpNormScale), 0.1f, 1.0f, true);
    fill(layer.mlp_norm_bias, d, layer_tensor(l, kMlpNormBias), 0.1f, 0.0f, true);
    fill(layer.w_gate_up, d * (m.swiglu ? 2 * f : f), layer_tensor(l, kWgateUp), inv_sqrt(d), 0.0f, false);
    fill(layer.w_down, f * d, layer_tensor(l, kWdown), inv_sqrt(f), 0.0f, false);
  }
}

void CudaBackend::create_partitions() {
  if (options_.sm_partitions == 0) return;
  std::vector<int> sizes;
  for (int device : devices_) {
    KVR_CUDA_CHECK(cudaSetDevice(device));  // the primary context is active: green contexts retain it
    partitions_.push_back(std::make_unique<SmPartitions>(device, options_.sm_partitions));
    sizes.push_back(partitions_.back()->split().sms_per_partition);
  }
  device_description_ += ", " + describe_partitions(options_.sm_partitions, sizes);
}

cudaEvent_t CudaBackend::start_of(int device) const {
  return start_events_[static_cast<size_t>(device_index_[static_cast<size_t>(device)])];
}

double CudaBackend::event_time_s(cudaEvent_t event, int device, SmPartition* partition) const {
  float ms = 0.f;
  KVR_CUDA_CHECK(cudaSetDevice(device));
  PartitionScope scope(partition);
  KVR_CUDA_CHECK(cudaEventElapsedTime(&ms, partition != nullptr ? partition->origin : start_of(device), event));
  return static_cast<double>(ms) * 1e-3 + (partition != nullptr ? partition->origin_offset_s : 0.0);
}

void CudaBackend::prepare(const Plan& plan) {
  // The CUDA kernels run contiguous chunks of whole-model rows; ring-kv's zig-zag chunks and merged
  // attention steps, tensor parallelism's shards and partial sums, and pp-chunked's stages of
  // layers run on the CPU backend only.
  KVR_CHECK(!uses_general_layout(plan.strategy) && plan.strategy != "pp-chunked", ErrorCode::InvalidArgument,
            "strategy: the cuda backend runs single, tsp, tsp-causal, kvr, kvr-e, kvr-s and kvr-p plans; " +
                plan.strategy + " plans run on the cpu backend (--backend cpu)");
  release();
  plan_ = plan;
  const ModelConfig& m = plan_.model;
  KVR_CHECK(m.head_dim % 2 == 0 && m.head_dim <= 256, ErrorCode::InvalidArgument,
            "cuda backend: head_dim must be even and at most 256, not " + std::to_string(m.head_dim));
  // A missing route is a mistake in the request: reported before anything is allocated.
  if (options_.links.enabled()) check_link_routes(options_.links, plan_);
  row_elements_ = 2LL * m.kv_heads * m.head_dim;
  attention_kernel_ = choose_attention_kernel(m.head_dim);

  const int p = plan_.gpus;
  KVR_CHECK(options_.process_rank < p, ErrorCode::InvalidArgument,
            "process rank " + std::to_string(options_.process_rank) + " is not a rank of the plan (it has " +
                std::to_string(p) + ")");
  // -1: the rank runs in another process (one process per GPU).
  std::vector<int> rank_devices(static_cast<size_t>(p), -1);
  for (int r = 0; r < p; ++r) {
    if (!one_process_per_gpu()) {
      rank_devices[static_cast<size_t>(r)] = (options_.device_offset + r) % device_count_;
    } else if (r == options_.process_rank) {
      rank_devices[static_cast<size_t>(r)] = own_device();
    }
  }
  devices_.clear();
  for (const int device : rank_devices) {
    if (device >= 0) devices_.push_back(device);
  }
  std::sort(devices_.begin(), devices_.end());
  devices_.erase(std::unique(devices_.begin(), devices_.end()), devices_.end());
  device_index_.assign(static_cast<size_t>(device_count_), -1);
  for (size_t i = 0; i < devices_.size(); ++i) device_index_[static_cast<size_t>(devices_[i])] = static_cast<int>(i);

  // Names of the devices used, e.g. "NVIDIA H200 x1" or "NVIDIA H100 80GB HBM3 x4".
  std::map<std::string, int> names;
  for (int device : devices_) names[device_name(device)] += 1;
  device_description_.clear();
  for (const auto& [name, count] : names) {
    if (!device_description_.empty()) device_description_ += " + ";
    device_description_ += name + " x" + std::to_string(count);
  }
  transport_ = resolve_transport(plan_);

  // Everything is sized before anything is allocated, so a plan that cannot fit fails cleanly.
  for (int device : devices_) {
    KVR_CUDA_CHECK(cudaSetDevice(device));
    KVR_CUDA_CHECK(cudaFree(nullptr));  // creates the context, so free memory is what is left for us
  }
  check_memory(rank_devices);
  create_partitions();

  origin_streams_.assign(devices_.size(), nullptr);
  start_events_.assign(devices_.size(), nullptr);
  for (size_t i = 0; i < devices_.size(); ++i) {
    KVR_CUDA_CHECK(cudaSetDevice(devices_[i]));
    KVR_CUDA_CHECK(cudaStreamCreateWithFlags(&origin_streams_[i], cudaStreamNonBlocking));
    KVR_CUDA_CHECK(cudaEventCreate(&start_events_[i]));
    auto w = std::make_unique<DeviceWeights>();
    w->device = devices_[i];
    const size_t bytes = carve_weights(*w, nullptr);
    w->memory = std::make_unique<DeviceAllocation>(devices_[i], bytes, "the weights");
    carve_weights(*w, w->memory->data());
    fill_weights(*w, origin_streams_[i]);
    weights_.push_back(std::move(w));
  }

  rank_index_.assign(static_cast<size_t>(p), -1);
  for (int r = 0; r < p; ++r) {
    if (rank_devices[static_cast<size_t>(r)] < 0) continue;
    auto state = std::make_unique<RankState>();
    RankState& s = *state;
    rank_index_[static_cast<size_t>(r)] = static_cast<int>(ranks_.size());
    ranks_.push_back(std::move(state));
    s.rank = r;
    s.device = rank_devices[static_cast<size_t>(r)];
    s.tokens = plan_.partition[static_cast<size_t>(r)];
    s.prefix = plan_.chunk_start(r);
    s.kv_tokens = plan_.kv_tokens[static_cast<size_t>(r)];
    const int device_index = device_index_[static_cast<size_t>(s.device)];
    s.weights = weights_[static_cast<size_t>(device_index)].get();
    if (!partitions_.empty()) {
      SmPartitions& split = *partitions_[static_cast<size_t>(device_index)];
      s.partition = &split.at(r % split.size());
    }
    const size_t bytes = carve_rank(s, nullptr);
    s.memory = std::make_unique<DeviceAllocation>(s.device, bytes, "rank " + std::to_string(r) + " state");
    carve_rank(s, s.memory->data());
    KVR_CUDA_CHECK(cudaSetDevice(s.device));
    // The handle is created in the partition's context and bound to its stream, so every GEMM of
    // the rank runs on the partition's SMs.
    PartitionScope scope(s.partition);
    if (s.partition != nullptr) {
      s.stream = create_partition_stream(*s.partition);
    } else {
      KVR_CUDA_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
    }
    KVR_CUBLAS_CHECK(cublasCreate(&s.cublas));
    KVR_CUBLAS_CHECK(cublasSetStream(s.cublas, s.stream));
    KVR_CUBLAS_CHECK(cublasSetWorkspace(s.cublas, s.cublas_workspace, kCublasWorkspaceBytes));
  }

  init_transport(plan_);

  events_.assign(plan_.ops.size(), OpEvents{});
  for (const PlanOp& op : plan_.ops) {
    OpEvents& e = events_[static_cast<size_t>(op.id)];
    // Events belong to the context of the stream they are recorded on. Ops of other processes
    // have none.
    if (op.kind == OpKind::Compute) {
      if (!is_local(op.rank)) continue;
      const RankState& r = state_of(op.rank);
      e.start_device = e.end_device = r.device;
      e.start_partition = e.end_partition = r.partition;
    } else if (one_process_per_gpu()) {
      if (!is_local(op.src) && !is_local(op.dst)) continue;
      // This process's half: the send on the source's device, or the receive on the target's.
      e.start_device = e.end_device = is_local(op.src) ? state_of(op.src).device : state_of(op.dst).device;
    } else {
      const Channel& ch = channel(op.src, op.dst);
      e.start_device = ch.src_device;
      e.start_partition = ch.partition;
      const bool nccl = transport_ == "nccl";
      e.end_device = nccl ? ch.dst_device : e.start_device;
      e.end_partition = nccl ? nullptr : ch.partition;
    }
    KVR_CUDA_CHECK(cudaSetDevice(e.start_device));
    {
      PartitionScope scope(e.start_partition);
      KVR_CUDA_CHECK(cudaEventCreate(&e.start));
    }
    KVR_CUDA_CHECK(cudaSetDevice(e.end_device));
    {
      PartitionScope scope(e.end_partition);
      KVR_CUDA_CHECK(cudaEventCreate(&e.end));
    }
  }
  paced_start_s_.assign(plan_.ops.size(), 0.0);
  if (options_.links.enabled()) pacer_ = std::make_unique<LinkPacer>(options_.links);

  for (int device : devices_) {
    KVR_CUDA_CHECK(cudaSetDevice(device));
    KVR_CUDA_CHECK(cudaDeviceSynchronize());  // weights filled
  }
  prepared_ = true;
}

void CudaBackend::begin_run() {
  KVR_CHECK(prepared_, ErrorCode::Internal, "cuda backend: begin_run before prepare");
  const ModelConfig& m = plan_.model;
  for (auto& state : ranks_) {
    RankState& r = *state;
    KVR_CUDA_CHECK(cudaSetDevice(r.device));
    PartitionScope scope(r.partition);
    EmbedParams e;
    e.table = r.weights->embedding;
    e.out = r.h;
    e.tokens = r.tokens;
    e.first_position = r.prefix;
    e.vocab = m.vocab;
    e.dim = m.hidden;
    e.seed = options_.seed;
    launch_embed(e, r.stream);
    const size_t cache_bytes =
        static_cast<size_t>(m.layers) * static_cast<size_t>(r.kv_tokens) * static_cast<size_t>(row_elements_) * sizeof(__half);
    KVR_CUDA_CHECK(cudaMemsetAsync(r.cache, 0, cache_bytes, r.stream));
  }
  // Everything before the start is done: the streams of the last run and the resets above (each
  // synchronised too, should the primary context's device-wide wait not cover green contexts).
  synchronize();
  for (int device : devices_) {
    KVR_CUDA_CHECK(cudaSetDevice(device));
    KVR_CUDA_CHECK(cudaDeviceSynchronize());
  }
  // The common start: device 0's event, then every other device's once it has seen that one.
  KVR_CUDA_CHECK(cudaSetDevice(devices_[0]));
#if defined(KVR_WITH_NCCL)
  if (one_process_per_gpu()) {
    // Across processes: the start is when the all-reduce of every process has completed.
    KVR_NCCL_CHECK(ncclAllReduce(barrier_->data(), barrier_->data(), 1, ncclFloat, ncclSum,
                                 comms_[static_cast<size_t>(options_.process_rank)], origin_streams_[0]));
  }
#endif
  KVR_CUDA_CHECK(cudaEventRecord(start_events_[0], origin_streams_[0]));
  for (size_t i = 1; i < devices_.size(); ++i) {
    KVR_CUDA_CHECK(cudaSetDevice(devices_[i]));
    KVR_CUDA_CHECK(cudaStreamWaitEvent(origin_streams_[i], start_events_[0], 0));
    KVR_CUDA_CHECK(cudaEventRecord(start_events_[i], origin_streams_[i]));
  }
  // Each partition's clock starts once the device's start has passed; its streams wait on it.
  for (size_t i = 0; i < partitions_.size(); ++i) {
    KVR_CUDA_CHECK(cudaSetDevice(devices_[i]));
    for (int k = 0; k < partitions_[i]->size(); ++k) {
      SmPartition& p = partitions_[i]->at(k);
      PartitionScope scope(&p);
      KVR_CUDA_CHECK(cudaStreamWaitEvent(p.origin_stream, start_events_[i], 0));
      KVR_CUDA_CHECK(cudaEventRecord(p.origin, p.origin_stream));
    }
  }
  const auto clock_of = [&](int device, SmPartition* partition) {
    return partition != nullptr ? partition->origin : start_of(device);
  };
  for (auto& state : ranks_) {
    KVR_CUDA_CHECK(cudaSetDevice(state->device));
    PartitionScope scope(state->partition);
    KVR_CUDA_CHECK(cudaStreamWaitEvent(state->stream, clock_of(state->device, state->partition), 0));
  }
  for (Channel& ch : channels_) {
    if (ch.send != nullptr) {
      KVR_CUDA_CHECK(cudaSetDevice(ch.src_device));
      PartitionScope scope(ch.partition);
      KVR_CUDA_CHECK(cudaStreamWaitEvent(ch.send, clock_of(ch.src_device, ch.partition), 0));
    }
    if (ch.recv != nullptr) {
      KVR_CUDA_CHECK(cudaSetDevice(ch.dst_device));
      KVR_CUDA_CHECK(cudaStreamWaitEvent(ch.recv, start_of(ch.dst_device), 0));
    }
  }
  if (pacer_) {
    // Paced transfers start on the host clock: note when the host sees the common start (it
    // completes at once, everything before it having been synchronised above).
    std::fill(paced_start_s_.begin(), paced_start_s_.end(), 0.0);
    KVR_CUDA_CHECK(cudaSetDevice(devices_[0]));
    KVR_CUDA_CHECK(cudaEventSynchronize(start_events_[0]));
    run_start_host_ = std::chrono::steady_clock::now();
  }
}

void CudaBackend::synchronize() {
  for (auto& state : ranks_) {
    KVR_CUDA_CHECK(cudaSetDevice(state->device));
    PartitionScope scope(state->partition);
    KVR_CUDA_CHECK(cudaStreamSynchronize(state->stream));
  }
  for (Channel& ch : channels_) {
    if (ch.send != nullptr) {
      KVR_CUDA_CHECK(cudaSetDevice(ch.src_device));
      PartitionScope scope(ch.partition);
      KVR_CUDA_CHECK(cudaStreamSynchronize(ch.send));
    }
    if (ch.recv != nullptr) {
      KVR_CUDA_CHECK(cudaSetDevice(ch.dst_device));
      KVR_CUDA_CHECK(cudaStreamSynchronize(ch.recv));
    }
  }
  // Where each partition's clock started, relative to the device's start event. Events of two
  // contexts may not be comparable on every driver: then the offset is 0 (see the header).
  for (size_t i = 0; i < partitions_.size(); ++i) {
    KVR_CUDA_CHECK(cudaSetDevice(devices_[i]));
    for (int k = 0; k < partitions_[i]->size(); ++k) {
      SmPartition& p = partitions_[i]->at(k);
      PartitionScope scope(&p);
      KVR_CUDA_CHECK(cudaStreamSynchronize(p.origin_stream));
      float ms = 0.f;
      const cudaError_t status = cudaEventElapsedTime(&ms, start_events_[i], p.origin);
      if (status == cudaSuccess) {
        p.origin_offset_s = static_cast<double>(ms) * 1e-3;
      } else {
        (void)cudaGetLastError();
        p.origin_offset_s = 0;
      }
    }
  }
}

OpTime CudaBackend::op_time(int op_id) const {
  KVR_CHECK(op_id >= 0 && static_cast<size_t>(op_id) < events_.size(), ErrorCode::Internal,
            "op_time: no op " + std::to_string(op_id));
  const OpEvents& e = events_[static_cast<size_t>(op_id)];
  const PlanOp& op = plan_.ops[static_cast<size_t>(op_id)];
  OpTime t;
  // A paced transfer starts when its link does, on the host clock (see the header).
  t.start_s = pacer_ && op.kind == OpKind::Transfer ? paced_start_s_[static_cast<size_t>(op_id)]
                                                     : event_time_s(e.start, e.start_device, e.start_partition);
  t.end_s = event_time_s(e.end, e.end_device, e.end_partition);
  return t;
}

std::vector<float> CudaBackend::last_logits() const {
  KVR_CHECK(prepared_, ErrorCode::Internal, "cuda backend: last_logits before prepare");
  const RankState& r = state_of(plan_.last_rank);
  std::vector<float> logits(static_cast<size_t>(plan_.model.vocab));
  KVR_CUDA_CHECK(cudaSetDevice(r.device));
  KVR_CUDA_CHECK(cudaMemcpy(logits.data(), r.logits, logits.size() * sizeof(float), cudaMemcpyDeviceToHost));
  return logits;
}

std::vector<float> CudaBackend::kv_cache(int rank) const {
  KVR_CHECK(prepared_, ErrorCode::Internal, "cuda backend: kv_cache before prepare");
  KVR_CHECK(rank >= 0 && rank < static_cast<int>(rank_index_.size()) && is_local(rank), ErrorCode::InvalidArgument,
            "kv_cache: no rank " + std::to_string(rank) + " in this process");
  const RankState& r = state_of(rank);
  const size_t count =
      static_cast<size_t>(plan_.model.layers) * static_cast<size_t>(r.kv_tokens) * static_cast<size_t>(row_elements_);
  std::vector<__half> staged(count);
  KVR_CUDA_CHECK(cudaSetDevice(r.device));
  KVR_CUDA_CHECK(cudaMemcpy(staged.data(), r.cache, count * sizeof(__half), cudaMemcpyDeviceToHost));
  std::vector<float> values(count);
  for (size_t i = 0; i < count; ++i) values[i] = __half2float(staged[i]);
  return values;
}

}  // namespace kvr::cuda

namespace kvr {

std::unique_ptr<Backend> make_cuda_backend(const BackendOptions& options) {
  return std::make_unique<cuda::CudaBackend>(options);
}

}  // namespace kvr
