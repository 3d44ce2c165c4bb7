// time_ops (kvr/op_timing.hpp): re-issues single ops of a prepared plan and times each alone.
#include "kvr/op_timing.hpp"

#include <algorithm>
#include <memory>
#include <new>

#include "kvr/backend.hpp"
#include "kvr/error.hpp"

namespace kvr {

namespace {

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

// Checked before the backend allocates anything: a wrong id is a mistake in the request.
void check_op_ids(const Plan& plan, const std::vector<int>& op_ids) {
  KVR_CHECK(!op_ids.empty(), ErrorCode::InvalidArgument, "op ids: expected at least one op to time");
  for (size_t i = 0; i < op_ids.size(); ++i) {
    const int id = op_ids[i];
    KVR_CHECK(id >= 0 && static_cast<size_t>(id) < plan.ops.size(), ErrorCode::InvalidArgument,
              "op ids[" + std::to_string(i) + "]: " + std::to_string(id) + " is not an op of the plan (ids 0.." +
                  std::to_string(static_cast<int64_t>(plan.ops.size()) - 1) + ")");
  }
  // Issuing in plan order and indexing op times by id rely on this (a Plan may be built in code).
  for (size_t i = 0; i < plan.ops.size(); ++i) {
    KVR_CHECK(plan.ops[i].id == static_cast<int>(i), ErrorCode::InvalidPlan,
              "plan.ops[" + std::to_string(i) + "].id: expected " + std::to_string(i));
  }
}

json::Value describe_op(const PlanOp& op) {
  json::Value entry;
  entry.set("id", op.id);
  if (op.kind == OpKind::Compute) {
    entry.set("kind", "compute");
    entry.set("name", compute_name(op.name));
    entry.set("rank", op.rank);
    entry.set("layer", op.layer < 0 ? json::Value() : json::Value(op.layer));
    entry.set("tokens", op.tokens);
    entry.set("prefix", op.prefix);
    entry.set("keys", op.keys);
    entry.set("causal", op.causal);
  } else {
    entry.set("kind", "transfer");
    entry.set("name", op.transfer_name);
    entry.set("src", op.src);
    entry.set("dst", op.dst);
    entry.set("bytes", op.bytes);
    entry.set("layer", op.layer);
  }
  return entry;
}

json::Value time_ops_checked(const Plan& plan, const std::vector<int>& op_ids, const ExecOptions& options) {
  check_exec_options(options);
  check_op_ids(plan, op_ids);
  std::unique_ptr<Backend> backend = make_backend(options.backend, options.backend_options);
  backend->prepare(plan);
  backend->begin_run();
  // Plan order is a topological order: every op finds its inputs computed, as in a real run.
  for (const PlanOp& op : plan.ops) backend->issue(op);
  backend->synchronize();

  json::Value ops = json::Value(json::Value::Array{});
  for (const int id : op_ids) {
    const PlanOp& op = plan.ops[static_cast<size_t>(id)];
    for (int i = 0; i < options.warmup; ++i) {
      backend->issue(op);
      backend->synchronize();
    }
    std::vector<double> times;
    json::Value times_json = json::Value(json::Value::Array{});
    for (int i = 0; i < options.repeats; ++i) {
      backend->issue(op);
      backend->synchronize();
      const OpTime time = backend->op_time(id);
      times.push_back(time.end_s - time.start_s);
      times_json.push(times.back());
    }
    json::Value entry = describe_op(op);
    entry.set("times_s", std::move(times_json));
    entry.set("median_s", median(times));
    ops.push(std::move(entry));
  }

  json::Value out;
  out.set("schema", "kvr-exec/op-times@1");
  out.set("backend", backend->name());
  out.set("device", backend->device());
  out.set("transport", backend->transport());
  out.set("warmup", options.warmup);
  out.set("repeats", options.repeats);
  out.set("ops", std::move(ops));
  return out;
}

}  // namespace

json::Value time_ops(const Plan& plan, const std::vector<int>& op_ids, const ExecOptions& options) {
  try {
    return time_ops_checked(plan, op_ids, options);
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    KVR_FAIL(ErrorCode::OutOfMemory, "out of host memory while timing ops");
  }
}

}  // namespace kvr
