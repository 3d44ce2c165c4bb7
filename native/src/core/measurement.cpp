// Serialisation of a Measurement: the kvr-exec/measurement@1 document and a Chrome/Perfetto trace
// laid out like the simulator's (sim/trace/perfetto.ts), so predicted and measured runs can be
// opened side by side.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "kvr/error.hpp"
#include "kvr/executor.hpp"

namespace kvr {

namespace {

constexpr double kMicroseconds = 1e6;

// Thread ids of a GPU's tracks, as in the simulator's trace.
constexpr int kComputeTrack = 0;
constexpr int kSendTrack = 1;
constexpr int kRecvTrack = 2;

void check_matches(const Plan& plan, const Measurement& m) {
  KVR_CHECK(!m.runs.empty(), ErrorCode::InvalidArgument, "measurement: has no timed runs");
  for (const RunRecord& run : m.runs) {
    KVR_CHECK(run.ops.size() == plan.ops.size(), ErrorCode::InvalidArgument,
              "measurement: a run has " + std::to_string(run.ops.size()) + " op times, the plan has " +
                  std::to_string(plan.ops.size()) + " ops");
  }
}

// The run whose TTFT is the median (for an even count, the lower of the two middle ones), so the
// reported times are those of one real run rather than a mix.
size_t median_run(const Measurement& m) {
  std::vector<size_t> order(m.runs.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return m.runs[a].ttft_s < m.runs[b].ttft_s; });
  return order[(order.size() - 1) / 2];
}

json::Value int_array(const std::vector<int64_t>& values) {
  json::Value out = json::Value(json::Value::Array{});
  for (const int64_t v : values) out.push(v);
  return out;
}

json::Value layer_json(const PlanOp& op) { return op.layer < 0 ? json::Value() : json::Value(op.layer); }

json::Value op_name(const PlanOp& op) {
  return op.kind == OpKind::Compute ? json::Value(compute_name(op.name)) : json::Value(op.transfer_name);
}

// Chrome trace "X" (complete) event.
json::Value slice(const json::Value& name, const char* category, int pid, int tid, double start_s, double end_s,
                  json::Value args) {
  json::Value event;
  event.set("name", name);
  event.set("ph", "X");
  event.set("cat", category);
  event.set("pid", pid);
  event.set("tid", tid);
  event.set("ts", start_s * kMicroseconds);
  event.set("dur", (end_s - start_s) * kMicroseconds);
  event.set("args", std::move(args));
  return event;
}

json::Value metadata(const char* name, int pid, int tid, const char* arg_key, json::Value arg) {
  json::Value event;
  event.set("name", name);
  event.set("ph", "M");
  event.set("pid", pid);
  event.set("tid", tid);
  json::Value args;
  args.set(arg_key, std::move(arg));
  event.set("args", std::move(args));
  return event;
}

json::Value flow(const char* phase, int id, int pid, int tid, double time_s) {
  json::Value event;
  event.set("name", "kv");
  event.set("ph", phase);
  if (phase[0] == 'f') event.set("bp", "e");
  event.set("cat", "flow");
  event.set("id", id);
  event.set("pid", pid);
  event.set("tid", tid);
  event.set("ts", time_s * kMicroseconds);
  return event;
}

}  // namespace

json::Value measurement_json(const Plan& plan, const Measurement& m) {
  check_matches(plan, m);
  const size_t chosen = median_run(m);
  const RunRecord& run = m.runs[chosen];

  json::Value out;
  out.set("schema", "kvr-exec/measurement@1");
  out.set("strategy", plan.strategy);
  out.set("model", plan.model.name);
  out.set("context", plan.context);
  out.set("gpus", plan.gpus);
  out.set("partition", int_array(plan.partition));
  out.set("backend", m.backend);
  out.set("device", m.device);
  out.set("transport", m.transport);
  out.set("warmup", m.warmup);
  out.set("repeats", static_cast<int64_t>(m.runs.size()));
  out.set("ttft_s", m.ttft_s);
  json::Value runs = json::Value(json::Value::Array{});
  for (const RunRecord& r : m.runs) runs.push(r.ttft_s);
  out.set("ttft_runs_s", std::move(runs));
  out.set("median_run", static_cast<int64_t>(chosen));

  json::Value head = json::Value(json::Value::Array{});
  for (size_t i = 0; i < std::min<size_t>(8, m.logits.size()); ++i) head.push(static_cast<double>(m.logits[i]));
  out.set("logits_head", std::move(head));
  double sum_squares = 0;
  for (const float logit : m.logits) sum_squares += static_cast<double>(logit) * logit;
  out.set("logits_l2", std::sqrt(sum_squares));

  std::vector<json::Value> rank_ops(static_cast<size_t>(plan.gpus), json::Value(json::Value::Array{}));
  std::vector<double> finish(static_cast<size_t>(plan.gpus), 0.0);
  std::vector<double> busy(static_cast<size_t>(plan.gpus), 0.0);
  json::Value transfers = json::Value(json::Value::Array{});
  for (const PlanOp& op : plan.ops) {
    const OpTime& time = run.ops[static_cast<size_t>(op.id)];
    json::Value entry;
    entry.set("id", op.id);
    entry.set("name", op_name(op));
    if (op.kind == OpKind::Compute) {
      const auto rank = static_cast<size_t>(op.rank);
      entry.set("layer", layer_json(op));
      entry.set("start_s", time.start_s);
      entry.set("end_s", time.end_s);
      rank_ops[rank].push(std::move(entry));
      finish[rank] = std::max(finish[rank], time.end_s);
      busy[rank] += time.end_s - time.start_s;
    } else {
      entry.set("src", op.src);
      entry.set("dst", op.dst);
      entry.set("layer", op.layer);
      entry.set("bytes", op.bytes);
      if (op.step >= 0) entry.set("step", op.step);
      entry.set("start_s", time.start_s);
      entry.set("end_s", time.end_s);
      transfers.push(std::move(entry));
    }
  }
  json::Value ranks = json::Value(json::Value::Array{});
  for (size_t r = 0; r < rank_ops.size(); ++r) {
    json::Value rank;
    rank.set("rank", static_cast<int64_t>(r));
    rank.set("finish_s", finish[r]);
    rank.set("compute_s", busy[r]);
    rank.set("ops", std::move(rank_ops[r]));
    ranks.push(std::move(rank));
  }
  out.set("ranks", std::move(ranks));
  out.set("transfers", std::move(transfers));
  return out;
}

json::Value measurement_trace(const Plan& plan, const Measurement& m) {
  check_matches(plan, m);
  const size_t chosen = median_run(m);
  const RunRecord& run = m.runs[chosen];

  json::Value events = json::Value(json::Value::Array{});
  for (int rank = 0; rank < plan.gpus; ++rank) {
    events.push(metadata("process_name", rank, 0, "name", "GPU " + std::to_string(rank)));
    events.push(metadata("process_sort_index", rank, 0, "sort_index", rank));
    events.push(metadata("thread_name", rank, kComputeTrack, "name", "compute"));
    events.push(metadata("thread_name", rank, kSendTrack, "name", "send"));
    events.push(metadata("thread_name", rank, kRecvTrack, "name", "recv"));
  }
  std::vector<double> stream_free(static_cast<size_t>(plan.gpus), 0.0);
  for (const PlanOp& op : plan.ops) {
    const OpTime& time = run.ops[static_cast<size_t>(op.id)];
    if (op.kind == OpKind::Compute) {
      double& free_at = stream_free[static_cast<size_t>(op.rank)];
      if (time.start_s > free_at) {
        events.push(slice("wait", "idle", op.rank, kComputeTrack, free_at, time.start_s,
                          json::Value(json::Value::Object{})));
      }
      free_at = std::max(free_at, time.end_s);
      json::Value args;
      args.set("layer", layer_json(op));
      args.set("tokens", op.tokens);
      args.set("prefix", op.prefix);
      args.set("keys", op.keys);
      events.push(slice(op_name(op), "compute", op.rank, kComputeTrack, time.start_s, time.end_s, std::move(args)));
      continue;
    }
    json::Value args;
    args.set("layer", op.layer);
    args.set("bytes", op.bytes);
    args.set("tokens", json::Value(json::Value::Array{json::Value(op.token_start), json::Value(op.token_end)}));
    args.set("src", op.src);
    args.set("dst", op.dst);
    if (op.step >= 0) args.set("step", op.step);
    // A measured transfer has one interval; unlike the simulator there is no separate latency
    // phase, so the recv slice spans the same time as the send slice.
    events.push(slice(op_name(op), "comm", op.src, kSendTrack, time.start_s, time.end_s, args));
    events.push(slice("recv", "comm", op.dst, kRecvTrack, time.start_s, time.end_s, args));
    events.push(flow("s", op.id, op.src, kSendTrack, time.start_s));
    events.push(flow("f", op.id, op.dst, kRecvTrack, time.start_s));
  }

  json::Value other;
  other.set("schema", "kvr-exec/trace@1");
  other.set("strategy", plan.strategy);
  other.set("model", plan.model.name);
  other.set("backend", m.backend);
  other.set("device", m.device);
  other.set("transport", m.transport);
  other.set("ttft_s", run.ttft_s);
  other.set("run", static_cast<int64_t>(chosen));
  other.set("repeats", static_cast<int64_t>(m.runs.size()));

  json::Value trace;
  trace.set("traceEvents", std::move(events));
  trace.set("displayTimeUnit", "ms");
  trace.set("otherData", std::move(other));
  return trace;
}

}  // namespace kvr
