// Per-rank measurement files and their merge (kvr/rank_measurement.hpp).
#include "kvr/rank_measurement.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>

#include "kvr/error.hpp"
#include "kvr/process_group.hpp"

namespace kvr {
namespace {

constexpr const char* kSchema = "kvr-exec/rank-measurement@1";

json::Value int_array(const std::vector<int64_t>& values) {
  json::Value out;
  out.array();
  for (const int64_t v : values) out.push(v);
  return out;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

// One op's part as a file gives it.
struct PartTime {
  bool present = false;
  OpTime time;
};

}  // namespace

json::Value rank_measurement_json(const Plan& plan, const Measurement& m, int rank, int processes) {
  KVR_CHECK(rank >= 0 && rank < plan.gpus, ErrorCode::InvalidArgument,
            "rank " + std::to_string(rank) + " is not a rank of the plan (it has " + std::to_string(plan.gpus) + ")");
  KVR_CHECK(m.process_rank < 0 || m.process_rank == rank, ErrorCode::InvalidArgument,
            "the measurement of rank " + std::to_string(m.process_rank) + "'s process has no times of rank " +
                std::to_string(rank));
  json::Value out;
  out.set("schema", kSchema);
  out.set("strategy", plan.strategy);
  out.set("model", plan.model.name);
  out.set("context", plan.context);
  out.set("gpus", plan.gpus);
  out.set("partition", int_array(plan.partition));
  out.set("rank", rank);
  out.set("processes", processes);
  out.set("backend", m.backend);
  out.set("device", m.device);
  out.set("transport", m.transport);
  out.set("warmup", m.warmup);
  out.set("repeats", static_cast<int64_t>(m.runs.size()));
  json::Value runs;
  runs.array();
  for (const RunRecord& run : m.runs) {
    KVR_CHECK(run.ops.size() == plan.ops.size(), ErrorCode::InvalidArgument,
              "measurement: a run has " + std::to_string(run.ops.size()) + " op times, the plan has " +
                  std::to_string(plan.ops.size()) + " ops");
    json::Value ops;
    ops.array();
    for (const PlanOp& op : plan.ops) {
      // A transfer within one rank (none of today's strategies has one) is in its file twice.
      std::vector<const char*> parts;
      if (op.kind == OpKind::Compute) {
        if (op.rank == rank) parts.push_back("compute");
      } else {
        if (op.src == rank) parts.push_back("send");
        if (op.dst == rank) parts.push_back("recv");
      }
      for (const char* part : parts) {
        const OpTime& time = run.ops[static_cast<size_t>(op.id)];
        json::Value entry;
        entry.set("id", op.id);
        entry.set("part", part);
        entry.set("start_s", time.start_s);
        entry.set("end_s", time.end_s);
        ops.push(std::move(entry));
      }
    }
    json::Value record;
    record.set("ops", std::move(ops));
    runs.push(std::move(record));
  }
  out.set("runs", std::move(runs));
  if (rank == plan.last_rank && !m.logits.empty()) {
    json::Value logits;
    logits.array();
    for (const float v : m.logits) logits.push(static_cast<double>(v));
    out.set("logits", std::move(logits));
  }
  return out;
}

Measurement merge_rank_measurements(const Plan& plan, const std::vector<json::Value>& files,
                                    const std::vector<std::string>& names) {
  KVR_CHECK(files.size() == names.size(), ErrorCode::Internal, "merge: one name per file");
  const auto fail_in = [&](size_t f, const std::string& message) {
    KVR_FAIL(ErrorCode::InvalidArgument, names[f] + ": " + message);
  };
  std::vector<const json::Value*> by_rank(static_cast<size_t>(plan.gpus), nullptr);
  std::vector<size_t> file_of(static_cast<size_t>(plan.gpus), 0);
  std::optional<int64_t> repeats;
  for (size_t f = 0; f < files.size(); ++f) {
    const json::Value& file = files[f];
    const json::Value* schema = file.find("schema");
    if (schema == nullptr || !schema->is_string() || schema->as_string() != kSchema) {
      fail_in(f, std::string("schema: expected \"") + kSchema + "\" (a file kvr-exec run wrote for one rank)");
    }
    // Same plan: the fields that identify it.
    if (file.at("strategy").as_string("strategy") != plan.strategy || file.at("model").as_string("model") != plan.model.name ||
        file.at("context").as_int("context") != plan.context || file.at("gpus").as_int("gpus") != plan.gpus) {
      fail_in(f, "strategy/model/context/gpus: measured a different plan (" + file.at("strategy").as_string("strategy") +
                     ", " + file.at("model").as_string("model") + ", " + std::to_string(file.at("context").as_int("context")) +
                     " tokens, " + std::to_string(file.at("gpus").as_int("gpus")) + " GPUs; the plan: " + plan.strategy +
                     ", " + plan.model.name + ", " + std::to_string(plan.context) + " tokens, " +
                     std::to_string(plan.gpus) + " GPUs)");
    }
    const json::Value::Array& partition = file.at("partition").as_array("partition");
    bool same_partition = partition.size() == plan.partition.size();
    for (size_t i = 0; same_partition && i < partition.size(); ++i) {
      same_partition = partition[i].as_int("partition[]") == plan.partition[i];
    }
    if (!same_partition) fail_in(f, "partition: differs from the plan's");
    const int64_t rank = file.at("rank").as_int("rank");
    if (rank < 0 || rank >= plan.gpus) {
      fail_in(f, "rank: " + std::to_string(rank) + " is not a rank of the plan (0.." + std::to_string(plan.gpus - 1) + ")");
    }
    if (by_rank[static_cast<size_t>(rank)] != nullptr) {
      fail_in(f, "rank " + std::to_string(rank) + " is also in " + names[file_of[static_cast<size_t>(rank)]]);
    }
    by_rank[static_cast<size_t>(rank)] = &file;
    file_of[static_cast<size_t>(rank)] = f;
    const int64_t n = file.at("repeats").as_int("repeats");
    if (n < 1 || static_cast<int64_t>(file.at("runs").as_array("runs").size()) != n) {
      fail_in(f, "runs: expected \"repeats\" (" + std::to_string(n) + ") runs");
    }
    if (repeats && *repeats != n) {
      fail_in(f, "repeats: " + std::to_string(n) + ", but " + names[0] + " has " + std::to_string(*repeats));
    }
    repeats = n;
  }
  for (int r = 0; r < plan.gpus; ++r) {
    KVR_CHECK(by_rank[static_cast<size_t>(r)] != nullptr, ErrorCode::InvalidArgument,
              "merge: no file for rank " + std::to_string(r) + " (the plan has " + std::to_string(plan.gpus) +
                  " ranks; got " + std::to_string(files.size()) + " file(s))");
  }

  // parts[run][op id]: [compute or send, recv]
  const size_t run_count = static_cast<size_t>(*repeats);
  std::vector<std::vector<std::pair<PartTime, PartTime>>> parts(
      run_count, std::vector<std::pair<PartTime, PartTime>>(plan.ops.size()));
  for (int r = 0; r < plan.gpus; ++r) {
    const size_t f = file_of[static_cast<size_t>(r)];
    const json::Value::Array& runs = by_rank[static_cast<size_t>(r)]->at("runs").as_array("runs");
    for (size_t k = 0; k < run_count; ++k) {
      for (const json::Value& entry : runs[k].at("ops").as_array("runs[].ops")) {
        const int64_t id = entry.at("id").as_int("ops[].id");
        if (id < 0 || id >= static_cast<int64_t>(plan.ops.size())) fail_in(f, "op " + std::to_string(id) + " is not in the plan");
        const PlanOp& op = plan.ops[static_cast<size_t>(id)];
        const std::string& part = entry.at("part").as_string("ops[].part");
        const bool ours = part == "compute" ? op.kind == OpKind::Compute && op.rank == r
                        : part == "send"    ? op.kind == OpKind::Transfer && op.src == r
                        : part == "recv"    ? op.kind == OpKind::Transfer && op.dst == r
                                            : false;
        if (!ours) fail_in(f, "op " + std::to_string(id) + " part \"" + part + "\" is not rank " + std::to_string(r) + "'s");
        PartTime& slot = part == "recv" ? parts[k][static_cast<size_t>(id)].second : parts[k][static_cast<size_t>(id)].first;
        slot.present = true;
        slot.time.start_s = entry.at("start_s").as_number("ops[].start_s");
        slot.time.end_s = entry.at("end_s").as_number("ops[].end_s");
      }
    }
  }

  Measurement m;
  const json::Value& first = *by_rank[0];
  m.backend = first.at("backend").as_string("backend");
  m.transport = first.at("transport").as_string("transport");
  m.warmup = static_cast<int>(first.at("warmup").as_int("warmup"));
  // "NVIDIA H100 80GB HBM3 x1" in every file: say it once.
  std::vector<std::string> devices;
  for (const json::Value* file : by_rank) {
    const std::string& device = file->at("device").as_string("device");
    if (std::find(devices.begin(), devices.end(), device) == devices.end()) devices.push_back(device);
  }
  for (const std::string& device : devices) m.device += (m.device.empty() ? "" : " + ") + device;
  int lm_head = -1;
  for (const PlanOp& op : plan.ops) {
    if (op.kind == OpKind::Compute && op.name == ComputeName::LmHead) lm_head = op.id;
  }
  KVR_CHECK(lm_head >= 0, ErrorCode::InvalidPlan, "plan.ops: no lm_head op");
  std::vector<double> ttfts;
  for (size_t k = 0; k < run_count; ++k) {
    RunRecord run;
    run.ops.resize(plan.ops.size());
    for (const PlanOp& op : plan.ops) {
      const auto& [main, recv] = parts[k][static_cast<size_t>(op.id)];
      const bool transfer = op.kind == OpKind::Transfer;
      const int owner = transfer ? (main.present ? op.dst : op.src) : op.rank;
      if (!main.present || (transfer && !recv.present)) {
        fail_in(file_of[static_cast<size_t>(owner)],
                "run " + std::to_string(k) + " has no " + (transfer ? (main.present ? "recv" : "send") : "compute") +
                    " time for op " + std::to_string(op.id));
      }
      run.ops[static_cast<size_t>(op.id)] = transfer ? OpTime{main.time.start_s, recv.time.end_s} : main.time;
    }
    run.ttft_s = run.ops[static_cast<size_t>(lm_head)].end_s;
    ttfts.push_back(run.ttft_s);
    m.runs.push_back(std::move(run));
  }
  m.ttft_s = median(ttfts);
  if (const json::Value* logits = by_rank[static_cast<size_t>(plan.last_rank)]->find("logits")) {
    for (const json::Value& v : logits->as_array("logits")) m.logits.push_back(static_cast<float>(v.as_number("logits[]")));
  }
  return m;
}

}  // namespace kvr
