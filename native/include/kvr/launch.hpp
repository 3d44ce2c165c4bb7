// Rank, world size and local device of a kvr-exec process started by a launcher (mpirun, srun,
// mpiexec, torchrun-style), read from the launcher's environment:
//   rank / world size: --rank/--world-size on the command line, else OMPI_COMM_WORLD_RANK/SIZE
//     (Open MPI), else PMI_RANK/SIZE (MPICH, Intel MPI, srun --mpi=pmi2), else SLURM_PROCID/NTASKS
//     (srun), else rank 0 of 1. The first complete pair wins; a launcher further down the list that
//     disagrees is listed under "ignored" (mpirun inside an salloc shell leaves SLURM_PROCID=0,
//     SLURM_NTASKS=1 of the shell's own task beside Open MPI's variables).
//   local rank (the GPU on this node): LOCAL_RANK, else OMPI_COMM_WORLD_LOCAL_RANK, else
//     MPI_LOCALRANKID, else SLURM_LOCALID, else the rank itself on one node (0 when alone). The
//     device is the local rank; CUDA_VISIBLE_DEVICES, applied by the CUDA runtime, maps it further.
// A half-set pair (a rank without a size), a non-integer, a negative value or rank >= size is an
// invalid-argument error naming the variables.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kvr/json.hpp"

namespace kvr {

struct LaunchInfo {
  std::string launcher = "none";  // cli, openmpi, pmi, slurm or none
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string local_rank_from = "none";  // the variable it came from, or "rank" / "none"
  int device = 0;
  std::vector<std::string> ignored;  // launchers whose variables disagree with the one used
};

// env(name) returns the variable's value or nullptr.
using EnvLookup = std::function<const char*(const char*)>;
LaunchInfo detect_launch(const EnvLookup& env, std::optional<int> cli_rank = std::nullopt,
                         std::optional<int> cli_world_size = std::nullopt);
// detect_launch over this process's environment.
LaunchInfo detect_launch_from_environment(std::optional<int> cli_rank = std::nullopt,
                                          std::optional<int> cli_world_size = std::nullopt);

// { "schema": "kvr-exec/launch@1", "launcher", "rank", "world_size", "local_rank", "local_rank_from",
//   "device", "ignored": [...] }
json::Value launch_json(const LaunchInfo& info);

}  // namespace kvr
