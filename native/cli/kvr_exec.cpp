// kvr-exec: runs simulator plans on this machine without Node (GPU hosts, gpu-check.sh).
// Every failure ends as one line on stderr and an exit code that says what kind of failure it was.
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <new>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kvr/attention_check.hpp"
#include "kvr/cuda_api.hpp"
#include "kvr/devices.hpp"
#include "kvr/error.hpp"
#include "kvr/executor.hpp"
#include "kvr/json.hpp"
#include "kvr/launch.hpp"
#include "kvr/link_emulation.hpp"
#include "kvr/op_timing.hpp"
#include "kvr/plan.hpp"
#include "kvr/process_group.hpp"
#include "kvr/rank_measurement.hpp"

namespace kvr {
namespace {

const char kUsage[] = R"(kvr-exec: run kvr plans (schema kvr-plan@1) on this machine and measure them op by op.

Usage:
  kvr-exec run PLAN.json [--backend cpu|cuda] [--transport auto|peer|nccl] [--warmup N]
                         [--repeats N] [--seed S] [--device-offset N] [--sm-partitions N]
                         [--links FILE] [--out FILE] [--trace FILE]
                         [--rank R --world-size N] [--nccl-id-file PATH] [--rendezvous-timeout S]
      Runs the plan: N warm-up runs, then timed repeats; prints kvr-exec/measurement@1 JSON
      (the median run's op times) to stdout or FILE, and optionally a Perfetto trace to FILE.
      With {rank} in --out FILE it writes one kvr-exec/rank-measurement@1 file per rank instead
      (every rank's when alone), for kvr-exec merge.
      Under mpirun -np N or srun (one process per GPU; see launch-info for the variables read),
      each process runs its own rank of the plan on the GPU of its local rank (device
      (--device-offset + local rank) % visible GPUs), NCCL send/recv between the processes:
      --backend cuda, the plan's GPU count equal to N, --out with {rank}; rank 0 writes the NCCL
      id to --nccl-id-file PATH (or KVR_NCCL_ID_FILE), on a filesystem every node shares, and the
      others wait for it up to --rendezvous-timeout S (KVR_RENDEZVOUS_TIMEOUT; 300 s).
  kvr-exec merge PLAN.json RANK_FILE... [--out FILE] [--trace FILE]
      Combines the rank files of one run (one per rank of the plan) into the kvr-exec/measurement@1
      JSON (and Perfetto trace) that one process would have written: a transfer from its send's
      start to its receive's end, the median run by the TTFT.
      --links paces every transfer on emulated links: FILE holds
      {"capacity": [bytes/s, ...], "routes": [{"src", "dst", "latency_s", "resources": [i, ...]}]}.
      --sm-partitions N (cuda) splits each GPU's SMs into N green-context partitions and runs rank r
      on partition r % N, so several ranks share one GPU as separate smaller GPUs would (0: whole GPUs).
      Defaults: --backend cpu --transport auto --warmup 1 --repeats 3 --seed 1234.
  kvr-exec time-ops PLAN.json --ops ID,ID,... [--backend cpu|cuda] [--transport T] [--warmup N]
                              [--repeats N] [--seed S] [--device-offset N] [--sm-partitions N]
                              [--links FILE]
      Runs the plan once, then re-issues each listed op alone (N warm-up + N timed times) and
      prints kvr-exec/op-times@1 JSON with every op's times and median, for calibration.
  kvr-exec compare PLAN.json [--backends cpu,cuda] [--transport T] [--seed S] [--device-offset N]
                             [--sm-partitions N]
      Runs the plan once on each backend and prints kvr-exec/compare@1 JSON with the relative
      error of the last token's logits against the first backend (exit 0 however large);
      --transport and --sm-partitions apply to the cuda backend only.
  kvr-exec bench-attention [--heads H] [--kv-heads K] [--head-dim D] [--chunk C] [--prefix P]
                           [--dense] [--warmup N] [--repeats N] [--seed S] [--no-check]
      Times the CUDA attention kernels on one shape and prints the result as JSON; each kernel's
      output is checked on sampled rows against an fp32 host reference, with Q scaled so the
      softmax is peaked (scaled scores with a standard deviation of 3.5; see attention-check).
  kvr-exec attention-check [--heads H] [--kv-heads K] [--head-dim D] [--chunk C] [--prefix P]
                           [--q-scale S] [--fault none|diagonal-tile|prefix-tile|off-by-one] [--seed S]
      CPU self-test of bench-attention's check: the same inputs and reference, against an output
      computed with a deliberately broken mask; prints kvr-exec/attention-check@1 JSON ("pass":
      false means the check caught the fault). Defaults: 4 heads, head dim 128, chunk 256 over a
      prefix of 1024, --q-scale 10.5 (the bench's), no fault.
  kvr-exec attention-check ... --tiling NAME|all [--tiling-fault none|skip-diagonal|mask-last-row|limit-off-by-one]
      CPU emulation of the flash kernel's tile loop for that tiling (or every one), causal and
      dense-masked: the same blocks, warps, key tiles, skips and masks (kvr/flash_tiling.hpp) on
      the same inputs; every row must see exactly keys [0, t] and match the reference; prints
      kvr-exec/flash-tiling-check@1 JSON ("pass": true when all did). --tiling-fault breaks the
      emulated arithmetic on purpose ("pass": false shows the check catches it).
  kvr-exec launch-info [PLAN.json] [--rank R --world-size N] [--nccl-id-file PATH] [--rendezvous-timeout S]
      Prints the rank, world size and local device this process would take under its launcher
      (mpirun: OMPI_COMM_WORLD_RANK/SIZE; MPICH, Intel MPI, srun --mpi=pmi2: PMI_RANK/SIZE; srun:
      SLURM_PROCID/NTASKS; device from LOCAL_RANK, OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID or
      SLURM_LOCALID), the NCCL id file and job tag, and with a plan what this rank would run, as
      kvr-exec/launch@1 JSON. time-ops and compare run every rank in one process and refuse a
      world size above 1.
  kvr-exec rendezvous-check --nccl-id-file PATH [--rank R --world-size N] [--rendezvous-timeout S]
      Under the launcher, before any GPU time: rank 0 writes a random id to PATH as run writes the
      NCCL id, the others wait for it; each prints kvr-exec/rendezvous@1 JSON with the id's digest,
      the same in every process when PATH is shared. Needs no GPU.
  kvr-exec devices
      Prints what this build and this machine support, as JSON.
  kvr-exec --help

Plans come from the simulator: `kvr export-plan --strategy kvr-e --model llama2-7b --gpus 4
--context 16384 > plan.json`; native/scripts/plans/ holds the ones gpu-check.sh runs.

Exit codes: 0 success; 1 other failure; 2 invalid argument or plan; 3 CUDA or NCCL unavailable
(built without CUDA, no CUDA device, no NCCL); 4 out of memory.
Errors print one line: kvr-exec: <code>: <message> (<where>).
)";

// --- command line --------------------------------------------------------------------------------

// The options of one subcommand: "--name value", "--name=value", or "--flag".
class Options {
 public:
  Options(const std::vector<std::string>& args, const std::vector<std::string>& valued,
          const std::vector<std::string>& flags) {
    for (size_t i = 0; i < args.size(); ++i) {
      const std::string& arg = args[i];
      if (arg.rfind("--", 0) != 0 || arg == "--") {
        KVR_CHECK(arg.empty() || arg[0] != '-' || arg == "-", ErrorCode::InvalidArgument,
                  "unknown option " + arg + " (see kvr-exec --help)");
        positional_.push_back(arg);
        continue;
      }
      const size_t equals = arg.find('=');
      const std::string name = arg.substr(2, equals == std::string::npos ? std::string::npos : equals - 2);
      if (contains(flags, name)) {
        KVR_CHECK(equals == std::string::npos, ErrorCode::InvalidArgument, "--" + name + " takes no value");
        values_.emplace_back(name, "");
      } else if (contains(valued, name)) {
        if (equals != std::string::npos) {
          values_.emplace_back(name, arg.substr(equals + 1));
        } else {
          KVR_CHECK(i + 1 < args.size(), ErrorCode::InvalidArgument, "--" + name + ": expected a value");
          values_.emplace_back(name, args[++i]);
        }
      } else {
        KVR_FAIL(ErrorCode::InvalidArgument, "unknown option --" + name + " (see kvr-exec --help)");
      }
    }
  }

  const std::vector<std::string>& positional() const { return positional_; }

  bool has(const std::string& name) const {
    for (const auto& [key, value] : values_) {
      if (key == name) return true;
    }
    return false;
  }

  // The last occurrence wins, as in most CLIs.
  std::string get(const std::string& name, const std::string& fallback) const {
    std::string result = fallback;
    for (const auto& [key, value] : values_) {
      if (key == name) result = value;
    }
    return result;
  }

  int64_t get_int(const std::string& name, int64_t fallback, int64_t min, int64_t max) const {
    if (!has(name)) return fallback;
    const std::string text = get(name, "");
    errno = 0;
    char* end = nullptr;
    const long long value = std::strtoll(text.c_str(), &end, 10);
    const bool ok = !text.empty() && errno == 0 && end == text.c_str() + text.size() && value >= min && value <= max;
    KVR_CHECK(ok, ErrorCode::InvalidArgument,
              "--" + name + ": expected an integer in " + std::to_string(min) + ".." + std::to_string(max) +
                  " (got \"" + text + "\")");
    return value;
  }

  uint64_t get_seed(uint64_t fallback) const {
    if (!has("seed")) return fallback;
    const std::string text = get("seed", "");
    errno = 0;
    char* end = nullptr;
    const unsigned long long value = std::strtoull(text.c_str(), &end, 10);
    const bool ok = !text.empty() && text[0] >= '0' && text[0] <= '9' && errno == 0 &&
                    end == text.c_str() + text.size();
    KVR_CHECK(ok, ErrorCode::InvalidArgument, "--seed: expected an integer in 0..2^64-1 (got \"" + text + "\")");
    return value;
  }

  std::string get_choice(const std::string& name, const std::string& fallback,
                         const std::vector<std::string>& choices) const {
    const std::string value = get(name, fallback);
    if (contains(choices, value)) return value;
    std::string list;
    for (const std::string& choice : choices) list += (list.empty() ? "" : "|") + choice;
    KVR_FAIL(ErrorCode::InvalidArgument, "--" + name + ": expected " + list + " (got \"" + value + "\")");
  }

 private:
  static bool contains(const std::vector<std::string>& names, const std::string& name) {
    for (const std::string& candidate : names) {
      if (candidate == name) return true;
    }
    return false;
  }

  std::vector<std::string> positional_;
  std::vector<std::pair<std::string, std::string>> values_;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  KVR_CHECK(in.good(), ErrorCode::InvalidArgument, "cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  KVR_CHECK(!in.bad(), ErrorCode::InvalidArgument, "cannot read " + path + ": " + std::strerror(errno));
  return text.str();
}

// Writes JSON plus a newline to `path`, or to stdout when path is empty.
void write_json(const std::string& path, const json::Value& value) {
  const std::string text = json::stringify(value) + "\n";
  if (path.empty()) {
    std::cout << text << std::flush;
    KVR_CHECK(std::cout.good(), ErrorCode::Internal, "cannot write to stdout");
    return;
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  KVR_CHECK(out.good(), ErrorCode::InvalidArgument, "cannot write " + path + ": " + std::strerror(errno));
  out << text;
  out.close();
  KVR_CHECK(!out.fail(), ErrorCode::InvalidArgument, "cannot write " + path + ": " + std::strerror(errno));
}

Plan load_plan(const Options& options) {
  KVR_CHECK(options.positional().size() == 1, ErrorCode::InvalidArgument,
            "expected one plan file (got " + std::to_string(options.positional().size()) + " arguments)");
  return parse_plan_text(read_file(options.positional()[0]));
}

BackendOptions backend_options(const Options& options) {
  BackendOptions backend;
  backend.seed = options.get_seed(backend.seed);
  backend.transport = options.get_choice("transport", backend.transport, {"auto", "peer", "nccl"});
  backend.device_offset = static_cast<int>(options.get_int("device-offset", backend.device_offset, 0, 1 << 16));
  backend.sm_partitions = static_cast<int>(options.get_int("sm-partitions", backend.sm_partitions, 0, 4096));
  if (options.has("links")) backend.links = parse_link_emulation_text(read_file(options.get("links", "")));
  return backend;
}

// Backend, options and warm-up/repeat counts of run and time-ops.
ExecOptions exec_options(const Options& options) {
  ExecOptions exec;
  exec.backend = options.get_choice("backend", "cpu", {"cpu", "cuda"});
  exec.backend_options = backend_options(options);
  exec.warmup = static_cast<int>(options.get_int("warmup", exec.warmup, 0, 100));
  exec.repeats = static_cast<int>(options.get_int("repeats", exec.repeats, 1, 1000));
  return exec;
}

// "3,7,12" -> {3, 7, 12}.
std::vector<int> parse_op_ids(const std::string& text) {
  std::vector<int> ids;
  std::stringstream list(text);
  std::string item;
  while (std::getline(list, item, ',')) {
    errno = 0;
    char* end = nullptr;
    const long value = std::strtol(item.c_str(), &end, 10);
    const bool ok = !item.empty() && item[0] >= '0' && item[0] <= '9' && errno == 0 &&
                    end == item.c_str() + item.size() && value <= (1L << 30);
    KVR_CHECK(ok, ErrorCode::InvalidArgument,
              "--ops: expected a comma-separated list of op ids such as 3,7,12 (got \"" + text + "\")");
    ids.push_back(static_cast<int>(value));
  }
  KVR_CHECK(!ids.empty(), ErrorCode::InvalidArgument, "--ops: expected at least one op id");
  return ids;
}

// --- subcommands -------------------------------------------------------------------------------

// time-ops and compare execute the whole plan in this process: under a launcher that started
// several processes each would run every rank. Refuse that, naming the launcher.
void refuse_multi_process(const char* command) {
  const LaunchInfo launch = detect_launch_from_environment();
  KVR_CHECK(launch.world_size == 1, ErrorCode::InvalidArgument,
            std::string(command) + ": started as rank " + std::to_string(launch.rank) + " of " +
                std::to_string(launch.world_size) + " by " + launch.launcher + "; " + command +
                " runs every rank in one process: start one kvr-exec per host (it drives every GPU of the host), "
                "or use kvr-exec run for one process per GPU");
}

const std::vector<std::string> kProcessOptions = {"rank", "world-size", "nccl-id-file", "rendezvous-timeout"};

ProcessGroupFlags process_flags(const Options& options) {
  ProcessGroupFlags flags;
  if (options.has("rank")) flags.rank = static_cast<int>(options.get_int("rank", 0, 0, 1 << 24));
  if (options.has("world-size")) flags.world_size = static_cast<int>(options.get_int("world-size", 1, 1, 1 << 24));
  if (options.has("nccl-id-file")) flags.id_file = options.get("nccl-id-file", "");
  if (options.has("rendezvous-timeout")) {
    const std::string text = options.get("rendezvous-timeout", "");
    errno = 0;
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    KVR_CHECK(!text.empty() && errno == 0 && end == text.c_str() + text.size() && std::isfinite(value) && value > 0 &&
                  value <= 86400,
              ErrorCode::InvalidArgument,
              "--rendezvous-timeout: expected a number of seconds in (0, 86400] (got \"" + text + "\")");
    flags.timeout_s = value;
  }
  return flags;
}

ProcessGroup process_group(const Options& options, bool require_id_file) {
  return resolve_process_group([](const char* name) { return std::getenv(name); }, process_flags(options),
                               require_id_file);
}

std::vector<std::string> with_process_options(std::vector<std::string> names) {
  names.insert(names.end(), kProcessOptions.begin(), kProcessOptions.end());
  return names;
}

// "run-{rank}.json" -> "run-3.json" (every {rank}).
std::string rank_path(std::string pattern, int rank) {
  const std::string token = "{rank}";
  for (size_t at = pattern.find(token); at != std::string::npos; at = pattern.find(token, at)) {
    pattern.replace(at, token.size(), std::to_string(rank));
  }
  return pattern;
}

// FNV-1a, 64 bits, as 16 hex digits: a short fingerprint of an id for rendezvous-check.
std::string digest(const std::string& bytes) {
  uint64_t hash = 1469598103934665603ULL;
  for (const char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(hash));
  return text;
}

int command_launch_info(const std::vector<std::string>& args) {
  const Options options(args, kProcessOptions, {});
  KVR_CHECK(options.positional().size() <= 1, ErrorCode::InvalidArgument,
            "launch-info takes at most one plan file (got " + std::to_string(options.positional().size()) + " arguments)");
  // The id file is reported, not required: launch-info is how a launch is checked before a run.
  const ProcessGroup group = process_group(options, false);
  json::Value out = launch_json(group.launch);
  out.set("nccl_id_file", group.id_file.empty() ? json::Value() : json::Value(group.id_file));
  out.set("nccl_id_file_from", group.id_file_from);
  out.set("job", group.job);
  out.set("rendezvous_timeout_s", group.timeout_s);
  if (!options.positional().empty()) {
    const Plan plan = parse_plan_text(read_file(options.positional()[0]));
    KVR_CHECK(!group.multi_process() || plan.gpus == group.launch.world_size, ErrorCode::InvalidArgument,
              "plan.gpus: the plan has " + std::to_string(plan.gpus) + " ranks, the launcher (" + group.launch.launcher +
                  ") started " + std::to_string(group.launch.world_size) + " processes: start one process per rank");
    out.set("runs", group.multi_process() ? local_parts_json(plan, group.launch.rank) : json::Value("every rank"));
  }
  write_json("", out);
  return 0;
}

int command_rendezvous_check(const std::vector<std::string>& args) {
  const Options options(args, kProcessOptions, {});
  KVR_CHECK(options.positional().empty(), ErrorCode::InvalidArgument,
            "rendezvous-check takes no arguments (got " + options.positional().front() + ")");
  const ProcessGroup group = process_group(options, true);
  KVR_CHECK(!group.id_file.empty(), ErrorCode::InvalidArgument,
            "--nccl-id-file: expected the path to check (or KVR_NCCL_ID_FILE)");
  double waited_s = 0;
  const std::string id = rendezvous_unique_id(
      group,
      [] {
        std::random_device device;
        std::string bytes(32, '\0');
        for (char& b : bytes) b = static_cast<char>(device() & 0xff);
        return bytes;
      },
      &waited_s);
  json::Value out;
  out.set("schema", "kvr-exec/rendezvous@1");
  out.set("launcher", group.launch.launcher);
  out.set("rank", group.launch.rank);
  out.set("world_size", group.launch.world_size);
  out.set("nccl_id_file", group.id_file);
  out.set("job", group.job);
  out.set("id_bytes", static_cast<int64_t>(id.size()));
  out.set("id_digest", digest(id));
  out.set("waited_s", waited_s);
  write_json("", out);
  return 0;
}

int command_run(const std::vector<std::string>& args) {
  const Options options(args,
                        with_process_options({"backend", "transport", "warmup", "repeats", "seed", "device-offset",
                                              "sm-partitions", "links", "out", "trace"}),
                        {});
  const ProcessGroup group = process_group(options, true);
  const Plan plan = load_plan(options);
  ExecOptions exec = exec_options(options);
  const std::string out = options.get("out", "");
  const bool per_rank = out.find("{rank}") != std::string::npos;
  const int world = group.launch.world_size;
  if (group.multi_process()) {
    const std::string who = "rank " + std::to_string(group.launch.rank) + " of " + std::to_string(world) + " (" +
                            group.launch.launcher + ")";
    KVR_CHECK(plan.gpus == world, ErrorCode::InvalidArgument,
              "plan.gpus: the plan has " + std::to_string(plan.gpus) + " ranks, the launcher (" + group.launch.launcher +
                  ") started " + std::to_string(world) + " processes: start one process per rank");
    exec.process_rank = group.launch.rank;
    check_exec_options(exec);  // the cpu backend: before anyone waits on a rendezvous
    KVR_CHECK(per_rank, ErrorCode::InvalidArgument,
              "--out: " + who + " writes its own file: give a path with {rank} (e.g. --out run-{rank}.json), then "
              "kvr-exec merge PLAN.json run-*.json");
    KVR_CHECK(!options.has("trace"), ErrorCode::InvalidArgument,
              "--trace: " + who + " has only its own ops: make the trace from the merged run (kvr-exec merge ... --trace FILE)");
    const std::string& transport = exec.backend_options.transport;
    KVR_CHECK(transport == "auto" || transport == "nccl", ErrorCode::InvalidArgument,
              "--transport: one process per GPU moves K,V over NCCL: expected auto or nccl (got \"" + transport + "\")");
    KVR_CHECK(exec.backend_options.sm_partitions == 0, ErrorCode::InvalidArgument,
              "--sm-partitions: splits one process's GPU among its ranks; with one process per GPU expected 0");
    KVR_CHECK(!exec.backend_options.links.enabled(), ErrorCode::InvalidArgument,
              "--links: emulated links pace transfers inside one process; one process per GPU runs on the real links");
    // Every rank fails alike, before rank 0 would make an id the others wait for.
    KVR_CHECK(built_with_cuda(), ErrorCode::BuiltWithoutCuda,
              "built without CUDA: one process per GPU needs the cuda backend (rebuild on a host with the CUDA toolkit)");
    KVR_CHECK(built_with_nccl(), ErrorCode::NcclUnavailable,
              "one process per GPU needs NCCL, and this build has none (nccl.h and libnccl were not found when it "
              "was configured)");
    const json::Value cuda = describe_cuda();
    if (const json::Value* error = cuda.find("error")) KVR_FAIL(ErrorCode::NoCudaDevice, error->as_string("error"));
    exec.backend_options.process_device = group.launch.device;
    exec.backend_options.nccl_unique_id = rendezvous_unique_id(group, make_nccl_unique_id);
  }
  const Measurement measurement = execute(plan, exec);
  // Every process has joined the communicator (ncclCommInitRank returns only then), so all have
  // read the id: remove it, so that a later job given the same path cannot read this one.
  if (group.multi_process() && group.launch.rank == 0) std::remove(group.id_file.c_str());
  if (per_rank) {
    for (int r = 0; r < plan.gpus; ++r) {
      if (group.multi_process() && r != group.launch.rank) continue;
      write_json(rank_path(out, r), rank_measurement_json(plan, measurement, r, world));
    }
  } else {
    write_json(out, measurement_json(plan, measurement));
  }
  if (options.has("trace")) write_json(options.get("trace", ""), measurement_trace(plan, measurement));
  return 0;
}

int command_merge(const std::vector<std::string>& args) {
  const Options options(args, {"out", "trace"}, {});
  const std::vector<std::string>& paths = options.positional();
  KVR_CHECK(paths.size() >= 2, ErrorCode::InvalidArgument,
            "merge: expected a plan file and one rank file per rank (got " + std::to_string(paths.size()) + " files)");
  const Plan plan = parse_plan_text(read_file(paths[0]));
  std::vector<json::Value> files;
  const std::vector<std::string> names(paths.begin() + 1, paths.end());
  for (const std::string& name : names) files.push_back(json::parse(read_file(name)));
  const Measurement measurement = merge_rank_measurements(plan, files, names);
  json::Value out = measurement_json(plan, measurement);
  out.set("processes", files[0].at("processes").as_int("processes"));
  write_json(options.get("out", ""), out);
  if (options.has("trace")) write_json(options.get("trace", ""), measurement_trace(plan, measurement));
  return 0;
}

int command_time_ops(const std::vector<std::string>& args) {
  const Options options(
      args, {"ops", "backend", "transport", "warmup", "repeats", "seed", "device-offset", "sm-partitions", "links"}, {});
  refuse_multi_process("time-ops");
  KVR_CHECK(options.has("ops"), ErrorCode::InvalidArgument, "time-ops: --ops is required (e.g. --ops 3,7,12)");
  const std::vector<int> op_ids = parse_op_ids(options.get("ops", ""));
  const Plan plan = load_plan(options);
  write_json("", time_ops(plan, op_ids, exec_options(options)));
  return 0;
}

struct LogitError {
  double max_rel = 0;  // max_i |a_i - b_i| / max_j |b_j|
  double l2_rel = 0;   // ||a - b|| / ||b||
};

// 0/0 is agreement; anything else over 0 is infinite (printed as null).
double ratio(double numerator, double denominator) {
  if (denominator > 0) return numerator / denominator;
  return numerator == 0 ? 0.0 : INFINITY;
}

LogitError logit_error(const std::vector<float>& a, const std::vector<float>& reference) {
  KVR_CHECK(a.size() == reference.size(), ErrorCode::Internal,
            "backends returned " + std::to_string(a.size()) + " and " + std::to_string(reference.size()) + " logits");
  double max_diff = 0, max_ref = 0, diff_squares = 0, ref_squares = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double diff = std::fabs(static_cast<double>(a[i]) - reference[i]);
    // NaN must not vanish into max(): it makes the error non-finite.
    max_diff = (std::isnan(diff) || diff > max_diff) ? diff : max_diff;
    max_ref = std::fmax(max_ref, std::fabs(static_cast<double>(reference[i])));
    diff_squares += diff * diff;
    ref_squares += static_cast<double>(reference[i]) * reference[i];
  }
  return {ratio(max_diff, max_ref), ratio(std::sqrt(diff_squares), std::sqrt(ref_squares))};
}

int command_compare(const std::vector<std::string>& args) {
  const Options options(args, {"backends", "transport", "seed", "device-offset", "sm-partitions"}, {});
  refuse_multi_process("compare");
  const Plan plan = load_plan(options);
  std::vector<std::string> backends;
  {
    std::stringstream list(options.get("backends", "cpu,cuda"));
    std::string name;
    while (std::getline(list, name, ',')) {
      KVR_CHECK(name == "cpu" || name == "cuda", ErrorCode::InvalidArgument,
                "--backends: expected a comma-separated list of cpu and cuda (got \"" + name + "\")");
      backends.push_back(name);
    }
  }
  KVR_CHECK(backends.size() >= 2, ErrorCode::InvalidArgument, "--backends: expected at least two backends to compare");

  std::vector<Measurement> measurements;
  for (const std::string& name : backends) {
    ExecOptions exec;
    exec.backend = name;
    exec.backend_options = backend_options(options);
    // --transport and --sm-partitions shape the CUDA ranks; the CPU reference always runs its own way.
    if (name == "cpu") {
      exec.backend_options.transport = "auto";
      exec.backend_options.sm_partitions = 0;
    }
    exec.warmup = 0;
    exec.repeats = 1;
    measurements.push_back(execute(plan, exec));
  }

  const std::vector<float>& reference = measurements.front().logits;
  LogitError worst;
  json::Value entries = json::Value(json::Value::Array{});
  for (size_t b = 0; b < measurements.size(); ++b) {
    const Measurement& m = measurements[b];
    json::Value entry;
    entry.set("backend", m.backend);
    entry.set("device", m.device);
    entry.set("transport", m.transport);
    entry.set("ttft_s", m.ttft_s);
    if (b > 0) {
      const LogitError error = logit_error(m.logits, reference);
      entry.set("logits_max_rel_error", error.max_rel);
      entry.set("logits_l2_rel_error", error.l2_rel);
      // Non-finite errors must dominate, not be skipped by a comparison with NaN.
      worst.max_rel = (!(error.max_rel <= worst.max_rel)) ? error.max_rel : worst.max_rel;
      worst.l2_rel = (!(error.l2_rel <= worst.l2_rel)) ? error.l2_rel : worst.l2_rel;
    }
    entries.push(std::move(entry));
  }

  json::Value out;
  out.set("schema", "kvr-exec/compare@1");
  out.set("strategy", plan.strategy);
  out.set("model", plan.model.name);
  out.set("context", plan.context);
  out.set("gpus", plan.gpus);
  out.set("reference", backends.front());
  out.set("backends", std::move(entries));
  out.set("logits_max_rel_error", worst.max_rel);
  out.set("logits_l2_rel_error", worst.l2_rel);
  write_json("", out);
  return 0;
}

int command_attention_check(const std::vector<std::string>& args) {
  const Options options(args, {"heads", "kv-heads", "head-dim", "chunk", "prefix", "q-scale", "fault", "seed", "tiling",
                                "tiling-fault"},
                        {});
  KVR_CHECK(options.positional().empty(), ErrorCode::InvalidArgument,
            "attention-check takes no arguments (got " + options.positional().front() + ")");
  AttentionShape shape;
  shape.heads = static_cast<int>(options.get_int("heads", 4, 1, 1024));
  shape.kv_heads = static_cast<int>(options.get_int("kv-heads", shape.heads, 1, 1024));
  KVR_CHECK(shape.heads % shape.kv_heads == 0, ErrorCode::InvalidArgument,
            "--kv-heads: must divide --heads (" + std::to_string(shape.heads) + "); got " +
                std::to_string(shape.kv_heads));
  shape.head_dim = static_cast<int>(options.get_int("head-dim", 128, 1, 1024));
  shape.chunk = options.get_int("chunk", 256, 1, int64_t{1} << 20);
  shape.prefix = options.get_int("prefix", 1024, 0, int64_t{1} << 20);
  const std::string scale_text = options.get("q-scale", "");
  float q_scale = kAttentionCheckQScale;
  if (!scale_text.empty()) {
    char* end = nullptr;
    errno = 0;
    const double value = std::strtod(scale_text.c_str(), &end);
    KVR_CHECK(errno == 0 && end == scale_text.c_str() + scale_text.size() && std::isfinite(value) && value > 0 &&
                  value <= 1000,
              ErrorCode::InvalidArgument, "--q-scale: expected a number in (0, 1000] (got \"" + scale_text + "\")");
    q_scale = static_cast<float>(value);
  }
  const std::string tiling = options.get("tiling", "");
  if (!tiling.empty()) {
    // The CPU emulation of the flash kernel's tile loop, causal and dense-masked, for one tiling or all.
    std::string known = "all";
    for (const FlashTiling& t : kFlashTilings) known += std::string("|") + t.name;
    KVR_CHECK(tiling == "all" || find_flash_tiling(tiling) != nullptr, ErrorCode::InvalidArgument,
              "--tiling: expected " + known + " (got \"" + tiling + "\")");
    json::Value results;
    results.array();
    bool pass = true;
    for (const FlashTiling& t : kFlashTilings) {
      if (tiling != "all" && tiling != t.name) continue;
      for (const bool causal : {true, false}) {
        json::Value one =
            flash_tiling_check(t, shape, causal, q_scale, options.get_seed(1234), options.get("tiling-fault", "none"));
        pass = pass && one.at("pass").as_bool();
        results.push(one);
      }
    }
    json::Value out;
    out.set("schema", "kvr-exec/flash-tiling-check@1");
    out.set("pass", pass);
    out.set("results", results);
    write_json("", out);
    return 0;
  }
  const MaskFault fault = parse_mask_fault(options.get("fault", "none"));
  write_json("", attention_check_self_test(shape, q_scale, fault, options.get_seed(1234)));
  return 0;
}

int command_bench_attention(const std::vector<std::string>& args) {
  const Options options(args, {"heads", "kv-heads", "head-dim", "chunk", "prefix", "warmup", "repeats", "seed"},
                        {"dense", "no-check"});
  KVR_CHECK(options.positional().empty(), ErrorCode::InvalidArgument,
            "bench-attention takes no arguments (got " + options.positional().front() + ")");
  AttentionBenchOptions bench;
  bench.heads = static_cast<int>(options.get_int("heads", bench.heads, 1, 65536));
  bench.kv_heads = static_cast<int>(options.get_int("kv-heads", bench.kv_heads, 1, 65536));
  KVR_CHECK(bench.heads % bench.kv_heads == 0, ErrorCode::InvalidArgument,
            "--kv-heads: must divide --heads (" + std::to_string(bench.heads) + "); got " +
                std::to_string(bench.kv_heads));
  bench.head_dim = static_cast<int>(options.get_int("head-dim", bench.head_dim, 2, 65536));
  bench.chunk = options.get_int("chunk", bench.chunk, 1, int64_t{1} << 24);
  bench.prefix = options.get_int("prefix", bench.prefix, 0, int64_t{1} << 24);
  bench.causal = !options.has("dense");
  bench.warmup = static_cast<int>(options.get_int("warmup", bench.warmup, 0, 100));
  bench.repeats = static_cast<int>(options.get_int("repeats", bench.repeats, 1, 1000));
  bench.seed = options.get_seed(bench.seed);
  bench.check = !options.has("no-check");
  write_json("", bench_attention(bench));
  return 0;
}

int command_devices(const std::vector<std::string>& args) {
  KVR_CHECK(args.empty(), ErrorCode::InvalidArgument, "devices takes no arguments (got " + args.front() + ")");
  write_json("", describe_devices());
  return 0;
}

int run_cli(const std::vector<std::string>& args) {
  if (args.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string& command = args.front();
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  for (const std::string& arg : args) {
    if (arg == "--help" || arg == "-h" || (arg == "help" && &arg == &args.front())) {
      std::cout << kUsage;
      return 0;
    }
  }
  if (command == "run") return command_run(rest);
  if (command == "time-ops") return command_time_ops(rest);
  if (command == "compare") return command_compare(rest);
  if (command == "bench-attention") return command_bench_attention(rest);
  if (command == "attention-check") return command_attention_check(rest);
  if (command == "merge") return command_merge(rest);
  if (command == "launch-info") return command_launch_info(rest);
  if (command == "rendezvous-check") return command_rendezvous_check(rest);
  if (command == "devices") return command_devices(rest);
  KVR_FAIL(ErrorCode::InvalidArgument,
           "unknown command " + command + " (expected run, merge, time-ops, compare, bench-attention, attention-check, launch-info, rendezvous-check or devices; see --help)");
}

int exit_code(ErrorCode code) {
  switch (code) {
    case ErrorCode::InvalidArgument:
    case ErrorCode::InvalidPlan: return 2;
    case ErrorCode::BuiltWithoutCuda:
    case ErrorCode::NoCudaDevice:
    case ErrorCode::NcclUnavailable: return 3;
    case ErrorCode::OutOfMemory: return 4;
    case ErrorCode::CudaError:
    case ErrorCode::Internal: return 1;
  }
  return 1;
}

int report(const char* code, const std::string& message, const std::string& where, int status) {
  std::cerr << "kvr-exec: " << code << ": " << message << " (" << where << ")" << std::endl;
  return status;
}

}  // namespace
}  // namespace kvr

int main(int argc, char** argv) {
  using namespace kvr;
  const char* here = "cli/kvr_exec.cpp";
  try {
    const std::vector<std::string> args(argv + 1, argv + argc);
    return run_cli(args);
  } catch (const Error& e) {
    return report(error_code_name(e.code()), e.what(), e.where(), exit_code(e.code()));
  } catch (const std::bad_alloc&) {
    return report(error_code_name(ErrorCode::OutOfMemory), "out of host memory", here, 4);
  } catch (const std::exception& e) {
    return report(error_code_name(ErrorCode::Internal), e.what(), here, 1);
  } catch (...) {
    return report(error_code_name(ErrorCode::Internal), "unknown exception", here, 1);
  }
}
