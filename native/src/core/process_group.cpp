// One process per GPU: rendezvous settings, the id file, and which ops a process runs
// (kvr/process_group.hpp).
#include "kvr/process_group.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "kvr/error.hpp"

namespace kvr {
namespace {

constexpr const char* kIdFileSchema = "kvr-nccl-id@1";
constexpr double kMaxTimeoutS = 86400;

double parse_timeout(const std::string& text, const std::string& what) {
  errno = 0;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  const bool ok = !text.empty() && errno == 0 && end == text.c_str() + text.size() && std::isfinite(value) &&
                  value > 0 && value <= kMaxTimeoutS;
  KVR_CHECK(ok, ErrorCode::InvalidArgument,
            what + ": expected a number of seconds in (0, 86400] (got \"" + text + "\")");
  return value;
}

std::string hex(const std::string& bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

// The bytes of a hex string, or nullopt when it is not one.
std::optional<std::string> unhex(const std::string& text) {
  if (text.size() % 2 != 0) return std::nullopt;
  const auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < text.size(); i += 2) {
    const int high = digit(text[i]);
    const int low = digit(text[i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>(high * 16 + low);
  }
  return out;
}

std::string header(int world_size, const std::string& job) {
  return std::string(kIdFileSchema) + " world_size=" + std::to_string(world_size) + " job=" + job;
}

void write_id_file(const ProcessGroup& group, const std::string& id) {
  const std::string& path = group.id_file;
  const std::string temporary = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    KVR_CHECK(out.good(), ErrorCode::InvalidArgument,
              group.id_file_from + ": rank 0 cannot write the NCCL id to " + temporary + ": " + std::strerror(errno) +
                  " (the folder must exist and be writable, on a filesystem every node shares)");
    out << header(group.launch.world_size, group.job) << "\n" << hex(id) << "\n";
    out.close();
    KVR_CHECK(!out.fail(), ErrorCode::InvalidArgument,
              group.id_file_from + ": rank 0 cannot write the NCCL id to " + temporary + ": " + std::strerror(errno));
  }
  // Atomic on POSIX filesystems (and on NFS servers): readers see no file or the whole file.
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(temporary.c_str());
    KVR_FAIL(ErrorCode::InvalidArgument, group.id_file_from + ": rank 0 cannot rename " + temporary + " to " + path +
                                             ": " + reason);
  }
}

// What a reader found at the path: nothing yet, a file of another job, or the id.
struct IdFileState {
  bool present = false;
  std::string mismatch;  // why the file is not this job's (empty when it is, or when absent)
  std::string id;
};

IdFileState read_id_file(const ProcessGroup& group) {
  IdFileState state;
  std::ifstream in(group.id_file, std::ios::binary);
  if (!in.good()) return state;
  state.present = true;
  std::string first;
  std::string second;
  std::getline(in, first);
  std::getline(in, second);
  const std::string expected = header(group.launch.world_size, group.job);
  if (first != expected) {
    state.mismatch = "it holds \"" + first + "\", this job expects \"" + expected + "\"";
    return state;
  }
  const std::optional<std::string> id = unhex(second);
  KVR_CHECK(id.has_value() && !id->empty(), ErrorCode::InvalidArgument,
            group.id_file_from + ": " + group.id_file + " is not an NCCL id file written by kvr-exec (bad second line)");
  state.id = *id;
  return state;
}

}  // namespace

std::string job_tag(const EnvLookup& env) {
  const auto get = [&](const char* name) -> std::string {
    const char* value = env(name);
    return value != nullptr ? value : "";
  };
  if (!get("KVR_JOB_ID").empty()) return get("KVR_JOB_ID");
  if (!get("SLURM_JOB_ID").empty()) {
    return "slurm:" + get("SLURM_JOB_ID") + (get("SLURM_STEP_ID").empty() ? "" : "." + get("SLURM_STEP_ID"));
  }
  if (!get("PMIX_NAMESPACE").empty()) return "pmix:" + get("PMIX_NAMESPACE");
  if (!get("OMPI_MCA_ess_base_jobid").empty()) return "ompi:" + get("OMPI_MCA_ess_base_jobid");
  return "";
}

ProcessGroup resolve_process_group(const EnvLookup& env, const ProcessGroupFlags& flags, bool require_id_file) {
  ProcessGroup group;
  group.launch = detect_launch(env, flags.rank, flags.world_size);
  group.job = job_tag(env);
  // The job tag is one token of the file's first line.
  std::replace(group.job.begin(), group.job.end(), ' ', '_');
  std::replace(group.job.begin(), group.job.end(), '\n', '_');
  if (flags.timeout_s) {
    group.timeout_s = *flags.timeout_s;
    KVR_CHECK(std::isfinite(group.timeout_s) && group.timeout_s > 0 && group.timeout_s <= kMaxTimeoutS,
              ErrorCode::InvalidArgument, "--rendezvous-timeout: expected a number of seconds in (0, 86400]");
  } else if (const char* text = env("KVR_RENDEZVOUS_TIMEOUT"); text != nullptr && *text != '\0') {
    group.timeout_s = parse_timeout(text, "KVR_RENDEZVOUS_TIMEOUT");
  }
  group.id_file_from = "none";
  if (flags.id_file) {
    KVR_CHECK(!flags.id_file->empty(), ErrorCode::InvalidArgument, "--nccl-id-file: expected a path");
    group.id_file = *flags.id_file;
    group.id_file_from = "--nccl-id-file";
  } else if (const char* path = env("KVR_NCCL_ID_FILE"); path != nullptr && *path != '\0') {
    group.id_file = path;
    group.id_file_from = "KVR_NCCL_ID_FILE";
  }
  KVR_CHECK(!require_id_file || !group.multi_process() || !group.id_file.empty(), ErrorCode::InvalidArgument,
            "--nccl-id-file: rank " + std::to_string(group.launch.rank) + " of " +
                std::to_string(group.launch.world_size) + " (" + group.launch.launcher +
                ") needs a path on a filesystem every node shares, where rank 0 writes the NCCL id "
                "(--nccl-id-file PATH or KVR_NCCL_ID_FILE=PATH)");
  return group;
}

std::string rendezvous_unique_id(const ProcessGroup& group, const std::function<std::string()>& make_id,
                                 double* waited_s) {
  KVR_CHECK(!group.id_file.empty(), ErrorCode::InvalidArgument,
            "--nccl-id-file: expected a path (or KVR_NCCL_ID_FILE) for the NCCL id");
  const auto started = std::chrono::steady_clock::now();
  const auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(); };
  if (group.launch.rank == 0) {
    const std::string id = make_id();
    KVR_CHECK(!id.empty(), ErrorCode::Internal, "rendezvous: rank 0 made an empty id");
    write_id_file(group, id);
    if (waited_s != nullptr) *waited_s = elapsed();
    return id;
  }
  // Poll: every 10 ms at first (ranks start within milliseconds of each other on one node), backing
  // off to 200 ms (a shared filesystem's attribute cache delays what other nodes see anyway).
  auto pause = std::chrono::milliseconds(10);
  IdFileState state;
  for (;;) {
    state = read_id_file(group);
    if (state.present && state.mismatch.empty()) break;
    if (elapsed() >= group.timeout_s) {
      std::ostringstream message;
      message << group.id_file_from << ": rank " << group.launch.rank << " of " << group.launch.world_size
              << " found no NCCL id for this job in " << group.id_file << " after " << group.timeout_s << " s ("
              << (state.present ? "a file is there but " + state.mismatch
                                : std::string("no file: did rank 0 start, and is the path on a filesystem every node "
                                              "shares?"))
              << "; --rendezvous-timeout or KVR_RENDEZVOUS_TIMEOUT sets the wait)";
      KVR_FAIL(ErrorCode::InvalidArgument, message.str());
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(200));
  }
  if (waited_s != nullptr) *waited_s = elapsed();
  return state.id;
}

std::vector<LocalPart> local_parts(const Plan& plan, int process_rank) {
  std::vector<LocalPart> parts(plan.ops.size(), LocalPart::None);
  for (const PlanOp& op : plan.ops) {
    LocalPart& part = parts[static_cast<size_t>(op.id)];
    if (op.kind == OpKind::Compute) {
      if (process_rank < 0 || op.rank == process_rank) part = LocalPart::Compute;
    } else if (process_rank < 0 || (op.src == process_rank && op.dst == process_rank)) {
      part = LocalPart::SendRecv;
    } else if (op.src == process_rank) {
      part = LocalPart::Send;
    } else if (op.dst == process_rank) {
      part = LocalPart::Recv;
    }
  }
  return parts;
}

json::Value local_parts_json(const Plan& plan, int rank) {
  KVR_CHECK(rank >= 0 && rank < plan.gpus, ErrorCode::InvalidArgument,
            "plan: rank " + std::to_string(rank) + " is not a rank of the plan (it has " + std::to_string(plan.gpus) +
                "; start one process per rank)");
  const std::vector<LocalPart> parts = local_parts(plan, rank);
  int64_t compute = 0, sends = 0, receives = 0;
  bool lm_head = false;
  std::set<int> send_to, receive_from;
  for (const PlanOp& op : plan.ops) {
    switch (parts[static_cast<size_t>(op.id)]) {
      case LocalPart::Compute:
        ++compute;
        lm_head = lm_head || op.name == ComputeName::LmHead;
        break;
      case LocalPart::Send:
        ++sends;
        send_to.insert(op.dst);
        break;
      case LocalPart::Recv:
        ++receives;
        receive_from.insert(op.src);
        break;
      case LocalPart::SendRecv:
      case LocalPart::None: break;
    }
  }
  const auto list = [](const std::set<int>& ranks) {
    json::Value out;
    out.array();
    for (const int r : ranks) out.push(r);
    return out;
  };
  json::Value out;
  out.set("compute", compute);
  out.set("sends", sends);
  out.set("receives", receives);
  out.set("send_to", list(send_to));
  out.set("receive_from", list(receive_from));
  out.set("lm_head", lm_head);
  return out;
}

}  // namespace kvr
