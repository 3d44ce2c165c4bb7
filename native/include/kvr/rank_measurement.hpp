// Per-rank measurement files and their merge. With one process per GPU each process knows only its
// own part of a run (kvr/process_group.hpp), so each writes a kvr-exec/rank-measurement@1 file and
// `kvr-exec merge` combines them into the kvr-exec/measurement@1 a single process would have
// written, which kvr calibrate --from and kvr validate read as before. A single process can write
// the same files (run --out with {rank}), so one pipeline serves both.
//
// A transfer has a half in two files: the sender's (start: the send is enqueued after its
// dependencies on the sender's stream) and the receiver's (end: the data is in its cache). The
// merged transfer runs from the send's start to the receive's end. Each process times its ops from
// its own start event, recorded right after a barrier of all processes (an NCCL all-reduce of one
// value), so the clocks agree to within that barrier's skew (microseconds on NVLink/InfiniBand).
// All runs of every rank are kept, and the merge picks the median run by the TTFT of the rank that
// ran lm_head, taking every rank's times from that same run.
#pragma once

#include <string>
#include <vector>

#include "kvr/executor.hpp"
#include "kvr/json.hpp"
#include "kvr/plan.hpp"

namespace kvr {

// { "schema": "kvr-exec/rank-measurement@1", "strategy", "model", "context", "gpus", "partition",
//   "rank", "processes" (1: written by a process that ran every rank), "backend", "device",
//   "transport", "warmup", "repeats",
//   "runs": [{ "ops": [{ "id", "part": "compute"|"send"|"recv", "start_s", "end_s" }] }],
//   "logits": [...] (the rank that ran lm_head only) }
// InvalidArgument when `m` was measured by another process (m.process_rank is neither -1 nor rank).
json::Value rank_measurement_json(const Plan& plan, const Measurement& m, int rank, int processes);

// The measurement of the whole plan from one file per rank (any order). InvalidArgument naming the
// file (by its index in `names`) when a file is not a rank measurement of this plan, a rank is
// missing or repeated, the repeat counts differ, or an op's part is missing.
Measurement merge_rank_measurements(const Plan& plan, const std::vector<json::Value>& files,
                                    const std::vector<std::string>& names);

}  // namespace kvr
