// LinkPacer (kvr/link_emulation.hpp): the simulator's fluid link model (sim/engine/flow-network.ts)
// run against the host clock. The model advances in virtual time from event to event: a flow
// joins when its latency has passed and retires at the exact instant its bytes have drained, with
// max-min fair rates recomputed at each join and retirement. Threads only sleep until the next
// projected finish; whichever wakes first moves the model forward for everyone, so a thread that
// wakes late delays its own return, never the other flows' rates.
#include <algorithm>
#include <cmath>
#include <limits>
#include <thread>
#include <utility>

#include "kvr/error.hpp"
#include "kvr/link_emulation.hpp"

namespace kvr {

namespace {

constexpr double kNever = std::numeric_limits<double>::infinity();
// A flow with less than this many seconds of data left at its rate is drained (float round-off).
constexpr double kDrainedWithin_s = 1e-9;
// Waits are capped so that a bug in the projection cannot hang a thread forever without a recheck.
constexpr double kLongestWait_s = 1.0;

}  // namespace

struct LinkPacer::Flow {
  const LinkEmulation::Route* route = nullptr;
  double remaining = 0;  // bytes not yet drained at last_update_s_
  double rate = 0;       // bytes/s since the last recompute
  bool done = false;
};

LinkPacer::LinkPacer(LinkEmulation links) : links_(std::move(links)), epoch_(Clock::now()) {
  // A LinkEmulation may be built in code rather than by parse_link_emulation: check what the
  // rate computation indexes by.
  for (size_t i = 0; i < links_.capacity.size(); ++i) {
    const double capacity = links_.capacity[i];
    KVR_CHECK(std::isfinite(capacity) && capacity > 0, ErrorCode::InvalidArgument,
              "links.capacity[" + std::to_string(i) + "]: expected a positive number of bytes/s (got " +
                  std::to_string(capacity) + ")");
  }
  for (size_t i = 0; i < links_.routes.size(); ++i) {
    const LinkEmulation::Route& route = links_.routes[i];
    const std::string field = "links.routes[" + std::to_string(i) + "]";
    KVR_CHECK(std::isfinite(route.latency_s) && route.latency_s >= 0, ErrorCode::InvalidArgument,
              field + ".latency_s: expected a finite number of seconds >= 0");
    for (const int resource : route.resources) {
      KVR_CHECK(resource >= 0 && static_cast<size_t>(resource) < links_.capacity.size(), ErrorCode::InvalidArgument,
                field + ".resources: resource " + std::to_string(resource) + " is not in links.capacity (" +
                    std::to_string(links_.capacity.size()) + " resources)");
    }
    std::vector<int> sorted = route.resources;
    std::sort(sorted.begin(), sorted.end());
    KVR_CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end(), ErrorCode::InvalidArgument,
              field + ".resources: a resource appears twice in the route");
    const bool added = route_index_.try_emplace({route.src, route.dst}, i).second;
    KVR_CHECK(added, ErrorCode::InvalidArgument,
              field + ": a second route from rank " + std::to_string(route.src) + " to rank " +
                  std::to_string(route.dst));
  }
  residual_.assign(links_.capacity.size(), 0.0);
  users_.assign(links_.capacity.size(), 0);
}

const LinkEmulation::Route& LinkPacer::route_for(int src, int dst) const {
  const auto it = route_index_.find({src, dst});
  KVR_CHECK(it != route_index_.end(), ErrorCode::InvalidArgument,
            "links: no route for transfers from rank " + std::to_string(src) + " to rank " + std::to_string(dst));
  return links_.routes[it->second];
}

double LinkPacer::seconds_at(Clock::time_point time) const {
  return std::chrono::duration<double>(time - epoch_).count();
}

LinkPacer::Clock::time_point LinkPacer::time_at(double seconds) const {
  return epoch_ + std::chrono::ceil<Clock::duration>(std::chrono::duration<double>(seconds));
}

void LinkPacer::transfer(int src, int dst, double bytes) {
  const LinkEmulation::Route& route = route_for(src, dst);
  KVR_CHECK(std::isfinite(bytes) && bytes >= 0, ErrorCode::InvalidArgument,
            "links: a transfer from rank " + std::to_string(src) + " to rank " + std::to_string(dst) +
                " of " + std::to_string(bytes) + " bytes");
  const Clock::time_point latency_end =
      Clock::now() + std::chrono::ceil<Clock::duration>(std::chrono::duration<double>(route.latency_s));
  std::this_thread::sleep_until(latency_end);
  if (bytes == 0 || route.resources.empty()) return;

  Flow flow;
  flow.route = &route;
  flow.remaining = bytes;
  std::unique_lock<std::mutex> lock(mutex_);
  try {
    // A late wake-up from the latency sleep does not delay the flow: it joins the model when its
    // latency ended, unless the model has already moved past that instant (it only runs forward).
    advance_locked(std::max(seconds_at(latency_end), last_update_s_));
    flows_.push_back(&flow);
    recompute_rates_locked();
    advance_locked(seconds_at(Clock::now()));
    changed_.notify_all();  // the others' rates changed: their finish times moved
    while (!flow.done) {
      // Wake at the next finish of any flow, not only this one: its retirement raises this rate.
      const double wake_s = std::min(next_finish_locked(), seconds_at(Clock::now()) + kLongestWait_s);
      changed_.wait_until(lock, time_at(wake_s));
      if (advance_locked(seconds_at(Clock::now())) > 0) changed_.notify_all();
    }
  } catch (...) {
    // Leave no pointer to this stack frame behind.
    const auto it = std::find(flows_.begin(), flows_.end(), &flow);
    if (it != flows_.end()) {
      flows_.erase(it);
      recompute_rates_locked();
      changed_.notify_all();
    }
    throw;
  }
}

double LinkPacer::next_finish_locked() const {
  double first = kNever;
  for (const Flow* flow : flows_) {
    if (flow->rate > 0) first = std::min(first, last_update_s_ + flow->remaining / flow->rate);
  }
  return first;
}

size_t LinkPacer::advance_locked(double now_s) {
  size_t retired = 0;
  for (;;) {
    const Flow* first = nullptr;  // the flow that finishes first at the current rates
    double finish_s = kNever;
    for (const Flow* flow : flows_) {
      const double candidate = flow->rate > 0 ? last_update_s_ + flow->remaining / flow->rate : kNever;
      if (candidate < finish_s) {
        finish_s = candidate;
        first = flow;
      }
    }
    const double until_s = std::min(finish_s, now_s);
    if (until_s > last_update_s_) {
      const double elapsed = until_s - last_update_s_;
      for (Flow* flow : flows_) flow->remaining = std::max(0.0, flow->remaining - flow->rate * elapsed);
      last_update_s_ = until_s;
    }
    if (first == nullptr || finish_s > now_s) return retired;
    // Retire the flow that set finish_s whatever the round-off (so the loop always progresses),
    // and every other flow drained by then.
    const auto kept = std::stable_partition(flows_.begin(), flows_.end(), [&](const Flow* flow) {
      return flow != first && flow->remaining > flow->rate * kDrainedWithin_s;
    });
    for (auto it = kept; it != flows_.end(); ++it) {
      (*it)->remaining = 0;
      (*it)->done = true;
      ++retired;
    }
    flows_.erase(kept, flows_.end());
    recompute_rates_locked();
  }
}

// Max-min fair rates by progressive filling, as FlowNetwork.progressiveFilling: the resource whose
// residual capacity per unfrozen flow is smallest fixes the rate of the flows crossing it; their
// share leaves every resource on their routes; repeat until every flow has a rate.
void LinkPacer::recompute_rates_locked() {
  for (const Flow* flow : flows_) {
    for (const int r : flow->route->resources) {
      residual_[static_cast<size_t>(r)] = links_.capacity[static_cast<size_t>(r)];
      users_[static_cast<size_t>(r)] = 0;
    }
  }
  for (const Flow* flow : flows_) {
    for (const int r : flow->route->resources) ++users_[static_cast<size_t>(r)];
  }
  std::vector<Flow*> unfrozen = flows_;
  while (!unfrozen.empty()) {
    int bottleneck = -1;
    double share = kNever;
    for (const Flow* flow : unfrozen) {
      for (const int r : flow->route->resources) {
        const auto index = static_cast<size_t>(r);
        const double candidate = residual_[index] / users_[index];
        // Ties go to the lower resource index, as in the simulator: the same rounding.
        if (candidate < share || (candidate == share && r < bottleneck)) {
          share = candidate;
          bottleneck = r;
        }
      }
    }
    const auto frozen = std::stable_partition(unfrozen.begin(), unfrozen.end(), [&](const Flow* flow) {
      const std::vector<int>& route = flow->route->resources;
      return std::find(route.begin(), route.end(), bottleneck) == route.end();
    });
    for (auto it = frozen; it != unfrozen.end(); ++it) {
      (*it)->rate = share;
      for (const int r : (*it)->route->resources) {
        const auto index = static_cast<size_t>(r);
        residual_[index] = std::max(0.0, residual_[index] - share);
        --users_[index];
      }
    }
    unfrozen.erase(frozen, unfrozen.end());
  }
}

}  // namespace kvr
