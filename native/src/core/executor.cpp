#include "kvr/executor.hpp"

#include <algorithm>
#include <cmath>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <utility>

#include "kvr/error.hpp"

namespace kvr {

namespace {

// Rethrows a failure as kvr::Error, keeping the code of one that already is.
[[noreturn]] void rethrow_as_error(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    KVR_FAIL(ErrorCode::OutOfMemory, "out of host memory while running the plan");
  } catch (const std::exception& e) {
    KVR_FAIL(ErrorCode::Internal, std::string("unexpected failure while running the plan: ") + e.what());
  } catch (...) {
    KVR_FAIL(ErrorCode::Internal, "unexpected non-standard exception while running the plan");
  }
}

// What the scheduler indexes by, checked here too because a Plan may be built in code rather
// than by parse_plan; a violation would otherwise be out-of-bounds access or a deadlock.
int check_schedulable(const Plan& plan) {
  KVR_CHECK(plan.gpus >= 1, ErrorCode::InvalidPlan, "plan.gpus: expected at least 1");
  int lm_head = -1;
  for (size_t index = 0; index < plan.ops.size(); ++index) {
    const PlanOp& op = plan.ops[index];
    const int i = static_cast<int>(index);
    KVR_CHECK(op.id == i, ErrorCode::InvalidPlan,
              "plan.ops[" + std::to_string(i) + "].id: expected " + std::to_string(i) + " (got " +
                  std::to_string(op.id) + ")");
    for (const int dep : op.deps) {
      KVR_CHECK(dep >= 0 && dep < i, ErrorCode::InvalidPlan,
                "plan.ops[" + std::to_string(i) + "].deps: op " + std::to_string(i) + " depends on op " +
                    std::to_string(dep) + ", which does not precede it");
    }
    if (op.kind == OpKind::Compute) {
      KVR_CHECK(op.rank >= 0 && op.rank < plan.gpus, ErrorCode::InvalidPlan,
                "plan.ops[" + std::to_string(i) + "].rank: " + std::to_string(op.rank) + " is not a rank of the plan");
      if (op.name == ComputeName::LmHead) {
        KVR_CHECK(lm_head < 0, ErrorCode::InvalidPlan, "plan.ops: more than one lm_head op");
        lm_head = i;
      }
    } else {
      const bool in_range = op.src >= 0 && op.src < plan.gpus && op.dst >= 0 && op.dst < plan.gpus;
      KVR_CHECK(in_range, ErrorCode::InvalidPlan,
                "plan.ops[" + std::to_string(i) + "]: transfer " + std::to_string(op.src) + " -> " +
                    std::to_string(op.dst) + " is not between ranks of the plan");
    }
  }
  KVR_CHECK(lm_head >= 0, ErrorCode::InvalidPlan, "plan.ops: no lm_head op");
  return lm_head;
}

// Runs a plan's ops on a backend with the simulator's queues (sim/engine/engine.ts): one compute
// stream per rank and one channel per (src, dst) pair, each issuing its ops in plan order, each op
// once all its dependencies have been issued. One host thread per queue, started once and reused
// by every run so that thread start-up is never inside a timed run. With one process per GPU only
// this process's parts are issued (kvr/process_group.hpp); a dependency on another process's op is
// not waited for here: the backend's receive brings its data.
class QueueRunner {
 public:
  QueueRunner(const Plan& plan, Backend& backend, const std::vector<LocalPart>& parts)
      : plan_(plan), backend_(backend), parts_(parts) {
    const size_t ranks = static_cast<size_t>(plan.gpus);
    for (size_t r = 0; r < ranks; ++r) queues_.push_back(std::make_unique<Queue>());
    std::map<std::pair<int, int>, size_t> channels;  // (src, dst) -> queue, in order of first use
    queue_of_.resize(plan.ops.size());
    position_.resize(plan.ops.size());
    // NCCL runs the operations of one communicator in the order they are issued. A process of a
    // launched job issues its sends and receives in plan order (each waits for the previous one's
    // issue), so every pair of processes issues the transfers between them in the same order and
    // no receive waits behind a send its peer has not issued yet. (In one process the backend
    // issues each transfer's send and receive together.)
    issue_after_.assign(plan.ops.size(), -1);
    int previous_transfer = -1;
    for (const PlanOp& op : plan.ops) {
      const LocalPart part = parts_[static_cast<size_t>(op.id)];
      if (part == LocalPart::Send || part == LocalPart::Recv) {
        issue_after_[static_cast<size_t>(op.id)] = previous_transfer;
        previous_transfer = op.id;
      }
    }
    for (const PlanOp& op : plan.ops) {
      if (!is_local(op.id)) continue;
      size_t queue;
      if (op.kind == OpKind::Compute) {
        queue = static_cast<size_t>(op.rank);
      } else {
        auto [it, added] = channels.try_emplace({op.src, op.dst}, queues_.size());
        if (added) queues_.push_back(std::make_unique<Queue>());
        queue = it->second;
      }
      const auto id = static_cast<size_t>(op.id);
      queue_of_[id] = queue;
      position_[id] = queues_[queue]->ops.size();
      queues_[queue]->ops.push_back(op.id);
    }
  }

  QueueRunner(const QueueRunner&) = delete;
  QueueRunner& operator=(const QueueRunner&) = delete;

  ~QueueRunner() {
    {
      std::lock_guard<std::mutex> lock(control_mutex_);
      stopping_ = true;
    }
    run_started_.notify_all();
    for (std::thread& thread : threads_) thread.join();
  }

  // Separate from the constructor so that, if creating a thread fails, the destructor still
  // joins the ones already running.
  void start_threads() {
    threads_.reserve(queues_.size());
    for (size_t q = 0; q < queues_.size(); ++q) threads_.emplace_back([this, q] { worker(q); });
  }

  // One run: reset the backend, issue every op, wait for the device. Rethrows the first failure of
  // any queue after all queue threads have stopped issuing.
  void run() {
    for (auto& queue : queues_) queue->issued.store(0, std::memory_order_relaxed);
    aborted_.store(false);
    first_error_ = nullptr;
    finished_ = 0;
    backend_.begin_run();
    {
      std::lock_guard<std::mutex> lock(control_mutex_);
      ++generation_;
    }
    run_started_.notify_all();
    std::exception_ptr error;
    {
      std::unique_lock<std::mutex> lock(control_mutex_);
      queue_finished_.wait(lock, [this] { return finished_ == queues_.size(); });
      error = first_error_;
    }
    if (error) {
      // Drain what was already enqueued so the backend is quiescent; the first error is what
      // the caller needs to see.
      try {
        backend_.synchronize();
      } catch (...) {
      }
      rethrow_as_error(error);
    }
    backend_.synchronize();
  }

 private:
  struct Queue {
    std::vector<int> ops;  // op ids in plan order
    std::mutex mutex;
    std::condition_variable progressed;
    std::atomic<size_t> issued{0};  // ops of this queue issued so far in the current run
  };

  void worker(size_t q) {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(control_mutex_);
        run_started_.wait(lock, [&] { return stopping_ || generation_ != seen; });
        if (stopping_) return;
        seen = generation_;
      }
      try {
        issue_queue(*queues_[q]);
      } catch (...) {
        abort_run(std::current_exception());
      }
      {
        std::lock_guard<std::mutex> lock(control_mutex_);
        ++finished_;
      }
      queue_finished_.notify_all();
    }
  }

  void issue_queue(Queue& queue) {
    for (size_t k = 0; k < queue.ops.size(); ++k) {
      const PlanOp& op = plan_.ops[static_cast<size_t>(queue.ops[k])];
      for (const int dep : op.deps) {
        if (!wait_issued(dep)) return;
      }
      const int after = issue_after_[static_cast<size_t>(op.id)];
      if (after >= 0 && !wait_issued(after)) return;
      if (aborted_.load(std::memory_order_acquire)) return;
      backend_.issue(op);
      {
        std::lock_guard<std::mutex> lock(queue.mutex);
        queue.issued.store(k + 1, std::memory_order_release);
      }
      queue.progressed.notify_all();
    }
  }

  bool is_local(int id) const { return parts_[static_cast<size_t>(id)] != LocalPart::None; }

  // Blocks (without spinning) until op `id` has been issued; false when the run was aborted.
  // Another process's op counts as issued.
  bool wait_issued(int id) {
    if (!is_local(id)) return true;
    Queue& queue = *queues_[queue_of_[static_cast<size_t>(id)]];
    const size_t needed = position_[static_cast<size_t>(id)] + 1;
    if (queue.issued.load(std::memory_order_acquire) >= needed) return true;
    std::unique_lock<std::mutex> lock(queue.mutex);
    queue.progressed.wait(lock, [&] {
      return queue.issued.load(std::memory_order_acquire) >= needed || aborted_.load(std::memory_order_acquire);
    });
    return queue.issued.load(std::memory_order_acquire) >= needed;
  }

  // Records the first failure and wakes every waiting queue thread so it can stop.
  void abort_run(std::exception_ptr error) {
    {
      std::lock_guard<std::mutex> lock(control_mutex_);
      if (!first_error_) first_error_ = std::move(error);
    }
    aborted_.store(true, std::memory_order_release);
    for (auto& queue : queues_) {
      // Taking the lock orders the flag before any waiter's predicate check: no lost wake-up.
      { std::lock_guard<std::mutex> lock(queue->mutex); }
      queue->progressed.notify_all();
    }
  }

  const Plan& plan_;
  Backend& backend_;
  const std::vector<LocalPart>& parts_;  // by op id: what this process runs of it
  std::vector<int> issue_after_;         // by op id: the transfer that must be issued first, or -1
  std::vector<std::unique_ptr<Queue>> queues_;  // ranks' compute streams first, then channels
  std::vector<size_t> queue_of_;                 // by op id
  std::vector<size_t> position_;                 // by op id: index within its queue
  std::vector<std::thread> threads_;

  std::atomic<bool> aborted_{false};
  std::mutex control_mutex_;
  std::condition_variable run_started_;
  std::condition_variable queue_finished_;
  uint64_t generation_ = 0;  // bumped once per run; workers run their queue once per value
  bool stopping_ = false;
  size_t finished_ = 0;  // queues done with the current run
  std::exception_ptr first_error_;
};

// The whole prefill's K,V cache assembled from the ranks' caches (ExecOptions::capture_kv).
std::vector<float> prefill_kv(const Plan& plan, const Backend& backend) {
  const std::vector<RankLayout> layouts = rank_layouts(plan);
  const ModelConfig& m = plan.model;
  if (plan.strategy == "pp-chunked") {
    // Stage s cached every position of its own layers: layer l comes from the stage that computes it.
    const int64_t per_layer = plan.context * 2 * int64_t{m.kv_heads} * m.head_dim;
    std::vector<float> out(static_cast<size_t>(m.layers * per_layer), 0.0f);
    for (int r = 0; r < plan.gpus; ++r) {
      const RankLayout& layout = layouts[static_cast<size_t>(r)];
      const std::vector<float> cache = backend.kv_cache(r);  // [layer][position < context][k|v][kv_head][hd]
      for (int layer = layout.first_layer; layer < layout.first_layer + layout.layer_count; ++layer) {
        std::copy(cache.begin() + layer * per_layer, cache.begin() + (layer + 1) * per_layer, out.begin() + layer * per_layer);
      }
    }
    return out;
  }
  const RankLayout& last = layouts[static_cast<size_t>(plan.last_rank)];
  const bool last_holds_all = last.held.size() == 1 && last.held[0].start == 0 && last.held[0].end == plan.context &&
                              last.shard.kv_heads == m.kv_heads;
  if (last_holds_all) return backend.kv_cache(plan.last_rank);
  const int64_t hd = m.head_dim;
  const int64_t per_position = 2 * int64_t{m.kv_heads} * hd;
  std::vector<float> out(static_cast<size_t>(m.layers * plan.context * per_position), 0.0f);
  // filled[position * kv_heads + head]: taken from a lower rank already.
  std::vector<uint8_t> filled(static_cast<size_t>(plan.context * m.kv_heads), 0);
  for (int r = 0; r < plan.gpus; ++r) {
    const RankLayout& layout = layouts[static_cast<size_t>(r)];
    const std::vector<float> cache = backend.kv_cache(r);  // [layer][held position][k|v][shard kv head][hd]
    int64_t held = 0;
    for (const TokenRange& range : layout.held) held += range.size();
    const int64_t local = 2 * int64_t{layout.shard.kv_heads} * hd;
    for (int64_t row = 0; row < layout.row_count(); ++row) {
      // The rank's rows are positions it computed; find each in its held positions.
      int64_t position = -1;
      int64_t before = 0;
      for (const TokenRange& range : layout.rows) {
        if (row < before + range.size()) {
          position = range.start + row - before;
          break;
        }
        before += range.size();
      }
      int64_t index = -1;
      before = 0;
      for (const TokenRange& range : layout.held) {
        if (position >= range.start && position < range.end) index = before + position - range.start;
        before += range.size();
      }
      if (index < 0) continue;
      for (int head = 0; head < layout.shard.kv_heads; ++head) {
        const int global = layout.shard.first_kv_head + head;
        uint8_t& done = filled[static_cast<size_t>(position * m.kv_heads + global)];
        if (done != 0) continue;
        done = 1;
        for (int layer = 0; layer < m.layers; ++layer) {
          const float* from = cache.data() + (layer * held + index) * local;
          float* to = out.data() + (layer * plan.context + position) * per_position;
          for (int kv = 0; kv < 2; ++kv) {
            std::copy(from + (kv * layout.shard.kv_heads + head) * hd, from + (kv * layout.shard.kv_heads + head + 1) * hd,
                      to + (kv * int64_t{m.kv_heads} + global) * hd);
          }
        }
      }
    }
  }
  return out;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

Measurement execute_checked(const Plan& plan, const ExecOptions& options) {
  check_exec_options(options);
  const int lm_head = check_schedulable(plan);
  KVR_CHECK(options.process_rank < plan.gpus, ErrorCode::InvalidArgument,
            "process rank " + std::to_string(options.process_rank) + " is not a rank of the plan (it has " +
                std::to_string(plan.gpus) + " ranks: start one process per rank)");
  const std::vector<LocalPart> parts = local_parts(plan, options.process_rank);
  const bool runs_lm_head = parts[static_cast<size_t>(lm_head)] != LocalPart::None;

  BackendOptions backend_options = options.backend_options;
  backend_options.process_rank = options.process_rank;
  std::unique_ptr<Backend> backend = make_backend(options.backend, backend_options);
  backend->prepare(plan);

  Measurement m;
  m.backend = backend->name();
  m.device = backend->device();
  m.transport = backend->transport();
  m.warmup = options.warmup;
  m.process_rank = options.process_rank;

  QueueRunner runner(plan, *backend, parts);
  runner.start_threads();
  for (int i = 0; i < options.warmup; ++i) runner.run();
  std::vector<double> ttfts;
  for (int i = 0; i < options.repeats; ++i) {
    runner.run();
    RunRecord record;
    record.ops.resize(plan.ops.size());
    for (size_t id = 0; id < plan.ops.size(); ++id) {
      if (parts[id] != LocalPart::None) record.ops[id] = backend->op_time(static_cast<int>(id));
    }
    record.ttft_s = runs_lm_head ? record.ops[static_cast<size_t>(lm_head)].end_s : std::nan("");
    ttfts.push_back(record.ttft_s);
    m.runs.push_back(std::move(record));
  }
  m.ttft_s = runs_lm_head ? median(ttfts) : std::nan("");  // another process has the TTFT
  if (runs_lm_head) m.logits = backend->last_logits();
  if (options.capture_kv) m.prefill_kv = prefill_kv(plan, *backend);
  return m;
}

}  // namespace

void check_exec_options(const ExecOptions& options) {
  if (options.process_rank >= 0) {
    KVR_CHECK(options.backend != "cpu", ErrorCode::InvalidArgument,
              "backend: the cpu backend runs every rank of a plan in one process; one process per GPU (rank " +
                  std::to_string(options.process_rank) + " of a launched job) needs the cuda backend (--backend cuda)");
    KVR_CHECK(!options.capture_kv, ErrorCode::InvalidArgument,
              "capture_kv: the whole K,V cache is not gathered across processes (one process per GPU)");
  }
  KVR_CHECK(options.warmup >= 0 && options.warmup <= 100, ErrorCode::InvalidArgument,
            "options.warmup: expected an integer in 0..100 (got " + std::to_string(options.warmup) + ")");
  KVR_CHECK(options.repeats >= 1 && options.repeats <= 1000, ErrorCode::InvalidArgument,
            "options.repeats: expected an integer in 1..1000 (got " + std::to_string(options.repeats) + ")");
}

Measurement execute(const Plan& plan, const ExecOptions& options) {
  try {
    return execute_checked(plan, options);
  } catch (...) {
    rethrow_as_error(std::current_exception());
  }
}

}  // namespace kvr
