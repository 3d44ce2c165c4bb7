// Emulated interconnect: links paced on the host clock, so several ranks on one machine (threads on
// the CPU, SM partitions of one GPU) see the transfer times of a real topology. A transfer is done
// no earlier than route latency + bytes / rate after it starts, where concurrent transfers share
// every directed link max-min fairly and rates are recomputed whenever one starts or ends: the
// same fluid model as the simulator (sim/engine/flow-network.ts), in real time.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "kvr/json.hpp"
#include "kvr/plan.hpp"

namespace kvr {

struct LinkEmulation {
  // Per-direction capacity (bytes/s, > 0) of every directed link resource.
  std::vector<double> capacity;
  struct Route {
    int src = 0;
    int dst = 0;
    double latency_s = 0;
    std::vector<int> resources;  // indices into capacity; empty: latency only, no bandwidth limit
  };
  // One route per (src, dst) pair the plan transfers over.
  std::vector<Route> routes;

  bool enabled() const { return !routes.empty(); }
};

// { "capacity": [bytes/s, ...], "routes": [{ "src", "dst", "latency_s", "resources": [i, ...] }] };
// InvalidArgument naming the field on bad input (non-positive capacity, resource out of range,
// duplicate (src, dst), negative latency).
LinkEmulation parse_link_emulation(const json::Value& document);

// Convenience: parse text (InvalidArgument "links: invalid JSON ..." on bad JSON) then
// parse_link_emulation.
LinkEmulation parse_link_emulation_text(const std::string& text);

// InvalidArgument "links: no route for transfers from rank 0 to rank 1" unless every (src, dst)
// the plan transfers over has a route. Backends call it in prepare(), before anything runs.
void check_link_routes(const LinkEmulation& links, const Plan& plan);

// Paces transfers in real time. Thread-safe: one pacer is shared by every channel thread.
class LinkPacer {
 public:
  explicit LinkPacer(LinkEmulation links);

  LinkPacer(const LinkPacer&) = delete;
  LinkPacer& operator=(const LinkPacer&) = delete;

  // Blocks until a transfer of `bytes` from src to dst that starts now would be delivered: first the
  // route latency, then the bytes drain at the max-min fair rate, which changes as other transfers
  // start and end. InvalidArgument when the emulation has no route for (src, dst).
  void transfer(int src, int dst, double bytes);

 private:
  using Clock = std::chrono::steady_clock;
  struct Flow;

  const LinkEmulation::Route& route_for(int src, int dst) const;
  double seconds_at(Clock::time_point time) const;  // on the pacer's clock: seconds since epoch_
  Clock::time_point time_at(double seconds) const;  // rounded up, so waiting for it never ends early
  void recompute_rates_locked();
  // Runs the fluid model forward to now_s: drains every flow at its rate and retires the flows that
  // finish on the way, at their exact finish times (rates recomputed at each). Returns how many
  // flows it retired.
  size_t advance_locked(double now_s);
  double next_finish_locked() const;  // earliest projected finish of an active flow

  LinkEmulation links_;
  std::map<std::pair<int, int>, size_t> route_index_;  // (src, dst) -> index into links_.routes
  Clock::time_point epoch_;
  std::mutex mutex_;
  std::condition_variable changed_;  // a flow joined or retired: rates and finish times moved
  std::vector<Flow*> flows_;         // active flows; each lives on the stack of its transfer() call
  double last_update_s_ = 0;         // the fluid model's time: flows have drained up to here
  // Scratch of recompute_rates_locked, per resource.
  std::vector<double> residual_;
  std::vector<int> users_;
};

}  // namespace kvr
