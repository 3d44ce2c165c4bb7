// K,V transfers of the CUDA backend. A transfer moves cache rows [token_start, token_end) of one
// layer from the source rank's cache to the destination's; in the [layer][position][k|v][kv_head]
// [hd] layout those rows are one contiguous block at the same offset in both caches, so it is one
// copy of (end - start) * 2 h_kv hd halves.
//   peer: cudaMemcpyPeerAsync between two GPUs (peer access enabled where the topology allows),
//         the copy_rows kernel when both ranks share a GPU; on the channel's stream on the source
//         device.
//   nccl: one process drives every rank's communicator (ncclCommInitAll); a transfer is a group of
//         ncclSend on the source communicator and stream and ncclRecv on the destination's.
//         Communicators are shared by several channel threads, so calls are serialised by a mutex;
//         every group holds a matching send and receive, so the per-communicator order of
//         operations is one global order and cannot deadlock.
//         One process per GPU: each process has its rank's communicator (ncclCommInitRank) and
//         issues its half of a transfer alone, ncclSend or ncclRecv; the executor issues a process's
//         halves in plan order, which gives every pair of processes the same order.
// With SM partitions, a peer channel's stream lives in the source rank's partition (the copy
// kernel of two ranks on one GPU then runs on the sender's SMs, as a send would); NCCL channels
// stay on the primary context. With emulated links, issue_transfer paces the transfer on the host
// (cuda_backend.hpp).
#include <chrono>
#include <cstring>
#include <set>
#include <string>
#include <utility>

#include "check.hpp"
#include "cuda_backend.hpp"
#include "elementwise.hpp"
#include "library_check.hpp"

namespace kvr::cuda {

std::string CudaBackend::resolve_transport(const Plan& plan) const {
  if (one_process_per_gpu()) return "nccl";  // checked in the constructor
  std::set<int> used;
  bool shared = false;
  bool transfers = false;
  for (int r = 0; r < plan.gpus; ++r) shared |= !used.insert((options_.device_offset + r) % device_count_).second;
  for (const PlanOp& op : plan.ops) transfers |= op.kind == OpKind::Transfer;
  const std::string& requested = options_.transport;
  if (requested == "peer") return "peer";
  if (requested == "nccl") {
    KVR_CHECK(!shared, ErrorCode::NcclUnavailable,
              "NCCL needs one GPU per rank (NCCL refuses two ranks on one GPU: 'Duplicate GPU detected'); use "
              "--transport peer (the plan has " +
                  std::to_string(plan.gpus) + " ranks, this host " + std::to_string(device_count_) + " GPU(s))");
    return "nccl";
  }
  // auto: NCCL when this build has it, every rank has its own GPU and there is something to send.
#if defined(KVR_WITH_NCCL)
  if (!shared && transfers) return "nccl";
#else
  (void)transfers;
#endif
  return "peer";
}

Channel& CudaBackend::channel(int src, int dst) {
  for (Channel& ch : channels_) {
    if (ch.src == src && ch.dst == dst) return ch;
  }
  KVR_FAIL(ErrorCode::Internal, "no channel " + std::to_string(src) + " -> " + std::to_string(dst));
}

void CudaBackend::init_transport(const Plan& plan) {
  std::set<std::pair<int, int>> pairs;
  for (const PlanOp& op : plan.ops) {
    if (op.kind == OpKind::Transfer) pairs.insert({op.src, op.dst});
  }
  for (const auto& [src, dst] : pairs) {
    // One process per GPU: only the channels with an end here, and only that end's stream.
    if (!is_local(src) && !is_local(dst)) continue;
    Channel ch;
    ch.src = src;
    ch.dst = dst;
    ch.src_device = is_local(src) ? state_of(src).device : -1;
    ch.dst_device = is_local(dst) ? state_of(dst).device : -1;
    const int src_device = ch.src_device;
    const int dst_device = ch.dst_device;
    if (transport_ != "nccl") ch.partition = state_of(src).partition;
    channels_.push_back(ch);
    Channel& added = channels_.back();
    if (src_device >= 0) {
      KVR_CUDA_CHECK(cudaSetDevice(src_device));
      if (added.partition != nullptr) {
        added.send = create_partition_stream(*added.partition);
      } else {
        KVR_CUDA_CHECK(cudaStreamCreateWithFlags(&added.send, cudaStreamNonBlocking));
      }
    }
    if (transport_ == "nccl") {
      if (dst_device >= 0) {
        KVR_CUDA_CHECK(cudaSetDevice(dst_device));
        KVR_CUDA_CHECK(cudaStreamCreateWithFlags(&added.recv, cudaStreamNonBlocking));
      }
    } else if (src_device != dst_device) {
      // Direct NVLink/PCIe copies where possible; cudaMemcpyPeerAsync stages through the host
      // otherwise (slow but correct).
      for (const auto& [from, to] : {std::make_pair(src_device, dst_device), std::make_pair(dst_device, src_device)}) {
        int can = 0;
        KVR_CUDA_CHECK(cudaDeviceCanAccessPeer(&can, from, to));
        if (!can) continue;
        KVR_CUDA_CHECK(cudaSetDevice(from));
        const cudaError_t status = cudaDeviceEnablePeerAccess(to, 0);
        if (status == cudaErrorPeerAccessAlreadyEnabled) {
          (void)cudaGetLastError();
        } else {
          KVR_CUDA_CHECK(status);
        }
      }
    }
  }
  if (transport_ == "nccl" && one_process_per_gpu()) {
#if defined(KVR_WITH_NCCL)
    // Collective over every process: returns once all of them have joined.
    const int rank = options_.process_rank;
    KVR_CUDA_CHECK(cudaSetDevice(state_of(rank).device));
    ncclUniqueId id;
    std::memcpy(id.internal, options_.nccl_unique_id.data(), sizeof id.internal);
    comms_.assign(static_cast<size_t>(plan.gpus), nullptr);
    KVR_NCCL_CHECK(ncclCommInitRank(&comms_[static_cast<size_t>(rank)], plan.gpus, id, rank));
    barrier_ = std::make_unique<DeviceAllocation>(state_of(rank).device, sizeof(float), "the start barrier");
    KVR_CUDA_CHECK(cudaMemset(barrier_->data(), 0, sizeof(float)));
#else
    KVR_FAIL(ErrorCode::NcclUnavailable, "this build has no NCCL: one process per GPU needs it");
#endif
  } else if (transport_ == "nccl") {
#if defined(KVR_WITH_NCCL)
    std::vector<int> devices;
    for (const auto& r : ranks_) devices.push_back(r->device);
    comms_.assign(devices.size(), nullptr);
    KVR_NCCL_CHECK(ncclCommInitAll(comms_.data(), static_cast<int>(devices.size()), devices.data()));
#else
    KVR_FAIL(ErrorCode::NcclUnavailable, "this build has no NCCL; use --transport peer");
#endif
  }
}

void CudaBackend::release_transport() noexcept {
#if defined(KVR_WITH_NCCL)
  for (ncclComm_t comm : comms_) {
    if (comm != nullptr) (void)ncclCommDestroy(comm);
  }
  comms_.clear();
#endif
  for (Channel& ch : channels_) {
    if (ch.send != nullptr) {
      (void)cudaSetDevice(ch.src_device);
      try {
        PartitionScope scope(ch.partition);
        (void)cudaStreamDestroy(ch.send);
      } catch (...) {
      }
    }
    if (ch.recv != nullptr) {
      (void)cudaSetDevice(ch.dst_device);
      (void)cudaStreamDestroy(ch.recv);
    }
  }
  channels_.clear();
}

void CudaBackend::issue_transfer(const PlanOp& op) {
  Channel& ch = channel(op.src, op.dst);
  if (one_process_per_gpu()) {
    issue_transfer_half(op, ch);
    return;
  }
  const RankState& source = state_of(op.src);
  const RankState& target = state_of(op.dst);
  const OpEvents& events = events_[static_cast<size_t>(op.id)];
  KVR_CHECK(op.token_end <= source.kv_tokens && op.token_end <= target.kv_tokens && op.token_start <= op.token_end,
            ErrorCode::Internal, "transfer " + std::to_string(op.id) + " is outside the caches");
  const int64_t count = (op.token_end - op.token_start) * row_elements_;
  const size_t bytes = static_cast<size_t>(count) * sizeof(__half);
  const __half* from = source.cache_layer(op.layer, row_elements_) + op.token_start * row_elements_;
  __half* to = target.cache_layer(op.layer, row_elements_) + op.token_start * row_elements_;

  if (pacer_) {
    // The emulated link starts once the data exists: wait for the dependencies on the host, with
    // no partition held (their ranks may still need it to enqueue them).
    for (const int dep : op.deps) KVR_CUDA_CHECK(cudaEventSynchronize(events_[static_cast<size_t>(dep)].end));
    paced_start_s_[static_cast<size_t>(op.id)] =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start_host_).count();
  }
  const bool nccl = transport_ == "nccl";
  cudaStream_t end_stream = nccl ? ch.recv : ch.send;
  {
    KVR_CUDA_CHECK(cudaSetDevice(source.device));
    PartitionScope scope(ch.partition);  // null with NCCL: its calls below switch devices freely
    wait_for_dependencies(op, ch.send);
    if (!pacer_) KVR_CUDA_CHECK(cudaEventRecord(events.start, ch.send));
    if (nccl) {
#if defined(KVR_WITH_NCCL)
      KVR_CUDA_CHECK(cudaSetDevice(target.device));
      wait_for_dependencies(op, ch.recv);  // the receive kernel does not start (and spin) early
      if (bytes > 0) {
        std::lock_guard<std::mutex> lock(nccl_mutex_);
        KVR_NCCL_CHECK(ncclGroupStart());
        KVR_NCCL_CHECK(ncclSend(from, bytes, ncclUint8, op.dst, comms_[static_cast<size_t>(op.src)], ch.send));
        KVR_NCCL_CHECK(ncclRecv(to, bytes, ncclUint8, op.src, comms_[static_cast<size_t>(op.dst)], ch.recv));
        KVR_NCCL_CHECK(ncclGroupEnd());
      }
#endif
    } else if (bytes > 0) {
      if (source.device == target.device) {
        CopyRowsParams copy;
        copy.src = from;
        copy.dst = to;
        copy.count = count;
        launch_copy_rows(copy, ch.send);
      } else {
        KVR_CUDA_CHECK(cudaMemcpyPeerAsync(to, target.device, from, source.device, bytes, ch.send));
      }
    }
    // (No cudaSetDevice in here: it could replace the partition's context pushed by the scope.
    // The current device is already the end event's: the source's, or the target's with NCCL.)
    if (!pacer_) KVR_CUDA_CHECK(cudaEventRecord(events.end, end_stream));
  }
  if (pacer_) {
    // The copy runs while the link is emulated; the end event, recorded once the pacer lets the
    // transfer go, completes at the later of the two, so no transfer ends before its emulated link
    // has delivered it and none is charged for its copy twice.
    pacer_->transfer(op.src, op.dst, static_cast<double>(op.bytes));
    KVR_CUDA_CHECK(cudaSetDevice(events.end_device));
    PartitionScope scope(events.end_partition);
    KVR_CUDA_CHECK(cudaEventRecord(events.end, end_stream));
  }
}

void CudaBackend::issue_transfer_half(const PlanOp& op, Channel& ch) {
#if defined(KVR_WITH_NCCL)
  const bool sending = ch.send != nullptr;
  const RankState& here = state_of(sending ? op.src : op.dst);
  const OpEvents& events = events_[static_cast<size_t>(op.id)];
  KVR_CHECK(op.token_end <= here.kv_tokens && op.token_start <= op.token_end, ErrorCode::Internal,
            "transfer " + std::to_string(op.id) + " is outside rank " + std::to_string(here.rank) + "'s cache");
  const int64_t count = (op.token_end - op.token_start) * row_elements_;
  const size_t bytes = static_cast<size_t>(count) * sizeof(__half);
  __half* rows = here.cache_layer(op.layer, row_elements_) + op.token_start * row_elements_;
  cudaStream_t stream = sending ? ch.send : ch.recv;
  KVR_CUDA_CHECK(cudaSetDevice(here.device));
  // The send waits for the K,V it carries; the receive's producer is in another process, and
  // ncclRecv completes when its data has arrived.
  if (sending) wait_for_dependencies(op, stream);
  KVR_CUDA_CHECK(cudaEventRecord(events.start, stream));
  if (bytes > 0) {
    ncclComm_t comm = comms_[static_cast<size_t>(here.rank)];
    if (sending) {
      KVR_NCCL_CHECK(ncclSend(rows, bytes, ncclUint8, op.dst, comm, stream));
    } else {
      KVR_NCCL_CHECK(ncclRecv(rows, bytes, ncclUint8, op.src, comm, stream));
    }
  }
  KVR_CUDA_CHECK(cudaEventRecord(events.end, stream));
#else
  (void)op;
  (void)ch;
  KVR_FAIL(ErrorCode::NcclUnavailable, "this build has no NCCL: one process per GPU needs it");
#endif
}

}  // namespace kvr::cuda
