// Runs a plan on a backend: a warm-up, then timed repeats from a common start to the last rank's
// first-token logits, with every op's start and end. Results serialise to kvr-exec/measurement@1
// and to a Perfetto trace with the simulator's op names and tracks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kvr/backend.hpp"
#include "kvr/json.hpp"
#include "kvr/plan.hpp"
#include "kvr/process_group.hpp"

namespace kvr {

struct ExecOptions {
  std::string backend = "cpu";
  BackendOptions backend_options;
  int warmup = 1;   // untimed runs first (JIT, caches, cuBLAS heuristics)
  int repeats = 3;  // timed runs; the reported TTFT is their median
  // Keep the prefill's K,V cache of the last run (for correctness checks): [layer][position < C]
  // [k|v][kv_head][head_dim] over the whole model, each entry from the lowest rank that computed
  // it (whose rows hold the position and whose shard holds the KV head). Where the last rank holds
  // every position and KV head (single, tsp, kvr) this is exactly its cache.
  bool capture_kv = false;
  // One process per GPU (kvr/process_group.hpp): -1 runs every rank of the plan in this process;
  // r >= 0 runs only rank r's part (its compute ops, the sending half of its outgoing transfers,
  // the receiving half of its incoming ones) while other processes run theirs. Needs a backend
  // that reaches other processes (cuda over NCCL: BackendOptions::nccl_unique_id); the cpu backend
  // runs every rank in one process and refuses it (InvalidArgument).
  int process_rank = -1;
};

struct RunRecord {
  double ttft_s = 0;           // end of lm_head, from the common start (NaN where another process ran it)
  std::vector<OpTime> ops;     // indexed by op id; with process_rank >= 0 only this process's parts
};

struct Measurement {
  std::string backend;
  std::string device;
  std::string transport;
  int warmup = 0;
  std::vector<RunRecord> runs;  // the timed repeats
  double ttft_s = 0;            // median over runs
  int process_rank = -1;        // ExecOptions::process_rank
  std::vector<float> logits;    // last token's logits, last run (empty where another process ran lm_head)
  std::vector<float> prefill_kv;  // when capture_kv (ExecOptions::capture_kv)
};

Measurement execute(const Plan& plan, const ExecOptions& options);

// InvalidArgument unless warmup is in 0..100 and repeats in 1..1000 (execute and time_ops check).
void check_exec_options(const ExecOptions& options);

// { "schema": "kvr-exec/measurement@1", "strategy", "model", "context", "gpus", "partition",
//   "backend", "device", "transport", "warmup", "repeats", "ttft_s", "ttft_runs_s": [...],
//   "logits_head": first 8 logits, "logits_l2": ...,
//   "ranks": [{ "rank", "finish_s", "compute_s", "ops": [{ "id", "name", "layer", "start_s", "end_s" }] }],
//   "transfers": [{ "id", "name", "src", "dst", "layer", "bytes", "start_s", "end_s" }] }
// Times are those of the median run.
json::Value measurement_json(const Plan& plan, const Measurement& m);

// Chrome/Perfetto trace of the median run: one process per rank, tracks compute/send/recv, op names
// as in the simulator (qkv, attn, o, mlp, lm_head, send, allgather, recv), flow arrows send -> recv.
json::Value measurement_trace(const Plan& plan, const Measurement& m);

}  // namespace kvr
