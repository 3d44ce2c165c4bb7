// Op timing for calibration: how long single ops of a plan take on a backend, each re-issued alone
// on a warm state, so the simulator's per-op costs can be fitted to this machine.
#pragma once

#include <vector>

#include "kvr/executor.hpp"
#include "kvr/json.hpp"
#include "kvr/plan.hpp"

namespace kvr {

// Creates the backend, prepares the plan and runs it once in plan order from the calling thread
// (so every op's inputs hold real values), then times each op of op_ids (indices into plan.ops,
// InvalidArgument otherwise): options.warmup untimed and options.repeats timed re-issues of that
// op alone, each issue followed by synchronize. Returns
// { "schema": "kvr-exec/op-times@1", "backend", "device", "transport", "warmup", "repeats",
//   "ops": [{ "id", "kind": "compute"|"transfer", "name", "layer",
//             compute: "rank", "tokens", "prefix", "keys", "causal";
//             transfer: "src", "dst", "bytes";
//             "times_s": [...], "median_s" }] }.
json::Value time_ops(const Plan& plan, const std::vector<int>& op_ids, const ExecOptions& options);

}  // namespace kvr
