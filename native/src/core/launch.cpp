// Launcher environment -> rank, world size, local rank (kvr/launch.hpp).
#include "kvr/launch.hpp"

#include <cerrno>
#include <cstdlib>

#include "kvr/error.hpp"

namespace kvr {
namespace {

struct RankVariables {
  const char* launcher;
  const char* rank;
  const char* size;
};
constexpr RankVariables kLaunchers[] = {
    {"openmpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"},
    {"pmi", "PMI_RANK", "PMI_SIZE"},
    {"slurm", "SLURM_PROCID", "SLURM_NTASKS"},
};
constexpr const char* kLocalRanks[] = {"LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"};

// A non-negative integer from variable `name`, or nullopt when unset or empty.
std::optional<int> read_int(const EnvLookup& env, const char* name) {
  const char* text = env(name);
  if (text == nullptr || *text == '\0') return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  KVR_CHECK(errno == 0 && *end == '\0' && text[0] >= '0' && text[0] <= '9' && value <= (1L << 24),
            ErrorCode::InvalidArgument,
            std::string(name) + ": expected a non-negative integer (got \"" + text + "\")");
  return static_cast<int>(value);
}

void check_pair(int rank, int size, const std::string& what) {
  KVR_CHECK(size >= 1, ErrorCode::InvalidArgument, what + ": the world size must be at least 1 (got " + std::to_string(size) + ")");
  KVR_CHECK(rank < size, ErrorCode::InvalidArgument,
            what + ": rank " + std::to_string(rank) + " is not below the world size " + std::to_string(size));
}

}  // namespace

LaunchInfo detect_launch(const EnvLookup& env, std::optional<int> cli_rank, std::optional<int> cli_world_size) {
  LaunchInfo info;
  KVR_CHECK(cli_rank.has_value() == cli_world_size.has_value(), ErrorCode::InvalidArgument,
            "--rank and --world-size go together (got only " + std::string(cli_rank ? "--rank" : "--world-size") + ")");
  bool found = false;
  if (cli_rank) {
    check_pair(*cli_rank, *cli_world_size, "--rank/--world-size");
    info.launcher = "cli";
    info.rank = *cli_rank;
    info.world_size = *cli_world_size;
    found = true;
  }
  for (const RankVariables& v : kLaunchers) {
    const std::optional<int> rank = read_int(env, v.rank);
    const std::optional<int> size = read_int(env, v.size);
    if (!rank && !size) continue;
    KVR_CHECK(rank && size, ErrorCode::InvalidArgument,
              std::string(rank ? v.rank : v.size) + " is set but " + (rank ? v.size : v.rank) +
                  " is not: a launcher sets both");
    check_pair(*rank, *size, std::string(v.rank) + "/" + v.size);
    if (!found) {
      info.launcher = v.launcher;
      info.rank = *rank;
      info.world_size = *size;
      found = true;
    } else if (*rank != info.rank || *size != info.world_size) {
      info.ignored.push_back(std::string(v.launcher) + " (" + v.rank + "=" + std::to_string(*rank) + ", " + v.size +
                             "=" + std::to_string(*size) + ")");
    }
  }
  for (const char* name : kLocalRanks) {
    if (const std::optional<int> local = read_int(env, name)) {
      info.local_rank = *local;
      info.local_rank_from = name;
      break;
    }
  }
  if (info.local_rank_from == "none" && info.world_size > 1) {
    // No per-node rank: assume one node, as a single mpirun without a hostfile runs.
    info.local_rank = info.rank;
    info.local_rank_from = "rank";
  }
  info.device = info.local_rank;
  return info;
}

LaunchInfo detect_launch_from_environment(std::optional<int> cli_rank, std::optional<int> cli_world_size) {
  return detect_launch([](const char* name) { return std::getenv(name); }, cli_rank, cli_world_size);
}

json::Value launch_json(const LaunchInfo& info) {
  json::Value ignored;
  ignored.array();
  for (const std::string& entry : info.ignored) ignored.push(entry);
  json::Value out;
  out.set("schema", "kvr-exec/launch@1");
  out.set("launcher", info.launcher);
  out.set("rank", info.rank);
  out.set("world_size", info.world_size);
  out.set("local_rank", info.local_rank);
  out.set("local_rank_from", info.local_rank_from);
  out.set("device", info.device);
  out.set("ignored", ignored);
  return out;
}

}  // namespace kvr
