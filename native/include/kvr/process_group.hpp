// One kvr-exec process per GPU (mpirun -np N, srun): where this process stands in the job, how its
// NCCL communicator meets the others', and which part of a plan it runs.
//
// Rendezvous. ncclCommInitRank needs the same 128-byte ncclUniqueId in every process, made by one
// of them. kvr-exec has no MPI linkage (it must build and run where no MPI is installed), so rank 0
// publishes the id in a file on a path every node can read (--nccl-id-file PATH, else
// KVR_NCCL_ID_FILE): written to PATH.tmp.<pid> and renamed, so a reader never sees half a file.
// The other ranks poll for it (--rendezvous-timeout S, else KVR_RENDEZVOUS_TIMEOUT, default 300 s)
// and fail with one line naming the path when it does not come. A file rather than a TCP
// rendezvous (MASTER_ADDR/MASTER_PORT, as torch.distributed): cluster jobs already share a
// filesystem, a file needs no free port and no address of rank 0's node (which srun does not hand
// to each task), and a wrong path shows up as a plain timeout naming it. The file's first line
// holds the world size and the job (SLURM_JOB_ID.SLURM_STEP_ID, PMIX_NAMESPACE or
// OMPI_MCA_ess_base_jobid, or KVR_JOB_ID): a file left by another job is not read; without any of
// these, give every job its own path.
//
// Which ops a process runs: rank r's compute ops, the sending half of every transfer from r and
// the receiving half of every transfer to r (NCCL send/recv between the processes). A dependency on
// another rank's op is met across processes: the data it produced arrives by the receive.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kvr/json.hpp"
#include "kvr/launch.hpp"
#include "kvr/plan.hpp"

namespace kvr {

struct ProcessGroup {
  LaunchInfo launch;
  std::string id_file;       // empty when the world size is 1
  std::string id_file_from;  // "--nccl-id-file", "KVR_NCCL_ID_FILE" or "none"
  double timeout_s = 300;    // how long ranks > 0 wait for the id file
  std::string job;           // tag written with the id; empty when the launcher gives none
  bool multi_process() const { return launch.world_size > 1; }
};

// Command-line values; unset ones fall back to the environment.
struct ProcessGroupFlags {
  std::optional<int> rank;
  std::optional<int> world_size;
  std::optional<std::string> id_file;
  std::optional<double> timeout_s;
};

// Launch info (kvr/launch.hpp) plus the rendezvous settings. With a world size above 1 and
// require_id_file, an id file is required (InvalidArgument naming --nccl-id-file and
// KVR_NCCL_ID_FILE); a timeout must be a number of seconds in (0, 86400] (InvalidArgument naming
// the flag or variable).
ProcessGroup resolve_process_group(const EnvLookup& env, const ProcessGroupFlags& flags, bool require_id_file = true);

// The job tag of this environment (see the header comment), or "".
std::string job_tag(const EnvLookup& env);

// Rank 0: make_id() (any bytes), written to group.id_file with its world size and job; returns
// them. Other ranks: wait for that file (polling), check its world size and job, return its bytes.
// `waited_s`, when given, receives the seconds spent. Failures (cannot write, timed out, malformed
// file) are InvalidArgument errors naming the path.
std::string rendezvous_unique_id(const ProcessGroup& group, const std::function<std::string()>& make_id,
                                 double* waited_s = nullptr);

// What one process runs of each op of a plan (indexed by op id).
enum class LocalPart { None, Compute, Send, Recv, SendRecv };
// process_rank -1: every rank's ops, in one process (transfers SendRecv).
std::vector<LocalPart> local_parts(const Plan& plan, int process_rank);

// { "compute": n, "sends": n, "receives": n, "send_to": [ranks], "receive_from": [ranks],
//   "lm_head": bool } of rank `rank`, for launch-info.
json::Value local_parts_json(const Plan& plan, int rank);

}  // namespace kvr
