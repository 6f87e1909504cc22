// fairness_report: the scheduler's share error and noisy-neighbour delay,
// with young backlogs and with backlogs older than every aging bound.
// Deterministic (manual clock, fixed seed); prints one line per scenario, or
// JSON lines with --json. docs/scheduling.md quotes it.
//
// Scenarios (one queue, default aging bounds, priority 4 unless said):
//   share_young / share_old    tenants of weight 3 and 1, both backlogged;
//                              the heavy tenant's share of dispatches over
//                              every window of 5,000 (worst window reported)
//   share_cost_old             the same, costs drawn from 1..100, measured
//                              in cost units (every task older than the bounds)
//   share_mixed_levels_old     heavy at priority 4, light at priority 3, all
//                              old: both levels climbed to 0 and share it
//   noisy_young / noisy_old    1,000,000 tasks of one tenant, then 100 of a
//                              second of equal weight: dispatches until the
//                              100 are all out (ideal: 200)
//
// Only the Scheduler's public API is used, so the same file builds against
// an older scheduler for a before/after comparison (build with
// -DSLUICE_NO_COST for a Push without a cost argument).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "common/clock.h"
#include "core/scheduler.h"

namespace sluice::core {
namespace {

constexpr TimeMs kHour = 3'600'000;
const std::function<bool(ReadyRef)> kAlive = [](ReadyRef) { return true; };

struct Refs {
  uint32_t next = 0;
  ReadyRef Make() { return ReadyRef{next++, 1}; }
};

void Push(Scheduler& s, uint32_t tenant, uint8_t priority, TimeMs since, ReadyRef ref,
          uint32_t cost) {
#ifdef SLUICE_NO_COST
  (void)cost;
  s.Push(0, tenant, priority, since, ref);
#else
  s.Push(0, tenant, priority, since, ref, cost);
#endif
}

struct ShareResult {
  double mean = 0;       // heavy tenant's share over the whole run
  double worst_dev = 0;  // largest |window share - target| over sliding windows
};

// Tenants 1 (weight 3) and 2 (weight 1) at the given priorities, each kept
// backlogged with `backlog` tasks; each dispatched task is replaced by one
// of the same tenant ready since `since` (old or now). Shares in cost units.
ShareResult Share(bool old, bool random_cost, uint8_t prio_heavy, uint8_t prio_light) {
  ManualClock clock;
  Scheduler s(clock, SchedulerOptions{});
  s.SetTenantLimits(1, Limits{.weight = 3});
  s.SetTenantLimits(2, Limits{.weight = 1});
  Refs refs;
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<uint32_t> cost_of(1, 100);
  const TimeMs since = old ? clock.NowMs() - kHour : clock.NowMs();
  std::vector<uint32_t> cost_by_slot;
  auto push = [&](uint32_t tenant) {
    const uint32_t c = random_cost ? cost_of(rng) : 1;
    const ReadyRef ref = refs.Make();
    cost_by_slot.push_back(c);
    Push(s, tenant, tenant == 1 ? prio_heavy : prio_light, since, ref, c);
  };
  for (int i = 0; i < 2000; ++i) {
    push(1);
    push(2);
  }
  constexpr int kWindow = 5000;
  constexpr int kDispatches = 100'000;
  std::deque<std::pair<uint32_t, uint32_t>> window;  // (tenant, cost)
  uint64_t win_heavy = 0, win_total = 0, all_heavy = 0, all_total = 0;
  ShareResult r;
  for (int i = 0; i < kDispatches; ++i) {
    auto pick = s.Pop(0, kAlive);
    if (!pick) break;
    s.Release(0, pick->tenant);
    const uint32_t c = cost_by_slot[pick->ref.slot];
    push(pick->tenant);
    window.emplace_back(pick->tenant, c);
    win_total += c;
    all_total += c;
    if (pick->tenant == 1) {
      win_heavy += c;
      all_heavy += c;
    }
    if (window.size() > kWindow) {
      win_total -= window.front().second;
      if (window.front().first == 1) win_heavy -= window.front().second;
      window.pop_front();
    }
    if (window.size() == kWindow) {
      const double share = static_cast<double>(win_heavy) / static_cast<double>(win_total);
      r.worst_dev = std::max(r.worst_dev, std::abs(share - 0.75));
    }
  }
  r.mean = static_cast<double>(all_heavy) / static_cast<double>(all_total);
  return r;
}

// Dispatches until the newcomer's 100 tasks are all out, or -1 past 2,000,000.
int64_t Noisy(bool old) {
  ManualClock clock;
  Scheduler s(clock, SchedulerOptions{});
  Refs refs;
  for (int i = 0; i < 1'000'000; ++i) Push(s, 1, 4, clock.NowMs(), refs.Make(), 1);
  if (old) clock.Advance(kHour);
  for (int i = 0; i < 100; ++i) Push(s, 2, 4, clock.NowMs(), refs.Make(), 1);
  int served = 0;
  for (int64_t n = 1; n <= 2'000'000; ++n) {
    auto pick = s.Pop(0, kAlive);
    if (!pick) return -1;
    if (pick->tenant == 2 && ++served == 100) return n;
  }
  return -1;
}

void PrintShare(bool json, const char* name, const ShareResult& r) {
  if (json) {
    std::printf("{\"scenario\":\"%s\",\"heavy_share\":%.4f,\"worst_window_error\":%.4f}\n", name,
                r.mean, r.worst_dev);
  } else {
    std::printf("%-24s heavy share %.4f (target 0.75), worst 5,000-window error %.4f\n", name,
                r.mean, r.worst_dev);
  }
}

void PrintNoisy(bool json, const char* name, int64_t n) {
  if (json) {
    std::printf("{\"scenario\":\"%s\",\"dispatches_until_served\":%lld}\n", name,
                static_cast<long long>(n));
  } else {
    std::printf("%-24s newcomer's 100 tasks out after %lld dispatches (ideal 200; -1: not in 2M)\n",
                name, static_cast<long long>(n));
  }
}

}  // namespace
}  // namespace sluice::core

int main(int argc, char** argv) {
  using namespace sluice::core;
  const bool json = argc > 1 && std::strcmp(argv[1], "--json") == 0;
  PrintShare(json, "share_young", Share(false, false, 4, 4));
  PrintShare(json, "share_old", Share(true, false, 4, 4));
#ifndef SLUICE_NO_COST
  PrintShare(json, "share_cost_old", Share(true, true, 4, 4));
#endif
  PrintShare(json, "share_mixed_levels_old", Share(true, false, 4, 3));
  PrintNoisy(json, "noisy_young", Noisy(false));
  PrintNoisy(json, "noisy_old", Noisy(true));
  return 0;
}
