// FIFO scheduler: the "before issue 4" baseline, for benchmarking only.
//
// A second definition of sluice::core::Scheduler (src/core/scheduler.h,
// unchanged) that does what a broker without fair share would do: strict
// priority levels, one plain FIFO per (queue, level), no tenants' share, no
// aging, no rate limits, no caps. Limits are stored and reported but never
// enforced; NextEligible is always nullopt. Pop honours `alive` and counts
// in flight per queue and tenant; Release decrements.
//
// Linked only into sluiced-fifo (bench/fifo/CMakeLists.txt), never into the
// real broker or the tests. tools/tenants_ab.sh compares the two brokers.
#include "core/scheduler.h"

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

namespace sluice::core {
namespace {

struct Entry {
  ReadyRef ref;
  uint32_t tenant = 0;
};

struct Queue {
  std::array<std::deque<Entry>, kPriorityLevels> levels;
  uint32_t ready_mask = 0;  // bit L set while levels[L] is non-empty
  uint32_t inflight = 0;
  Limits limits;
};

struct Tenant {
  uint32_t inflight = 0;
  uint64_t dispatched_total = 0;
  Limits limits;
};

}  // namespace

struct Scheduler::Impl {
  explicit Impl(const Clock& c) : clock(c) {}

  Queue& QueueAt(uint32_t queue) {
    if (queue >= queues.size()) queues.resize(static_cast<size_t>(queue) + 1);
    return queues[queue];
  }
  Tenant& TenantAt(uint32_t tenant) {
    if (tenant >= tenants.size()) tenants.resize(static_cast<size_t>(tenant) + 1);
    return tenants[tenant];
  }

  const Clock& clock;  // unused: no aging, no rates
  std::vector<Queue> queues;
  std::vector<Tenant> tenants;
  SchedulerTotals totals;
};

Scheduler::Scheduler(const Clock& clock, SchedulerOptions /*options*/)
    : impl_(std::make_unique<Impl>(clock)) {}

Scheduler::~Scheduler() = default;

void Scheduler::SetTenantLimits(uint32_t tenant, const Limits& limits) {
  impl_->TenantAt(tenant).limits = limits;
}

void Scheduler::SetQueueLimits(uint32_t queue, const Limits& limits) {
  impl_->QueueAt(queue).limits = limits;
}

Limits Scheduler::TenantLimits(uint32_t tenant) const {
  return tenant < impl_->tenants.size() ? impl_->tenants[tenant].limits : Limits{};
}

Limits Scheduler::QueueLimits(uint32_t queue) const {
  return queue < impl_->queues.size() ? impl_->queues[queue].limits : Limits{};
}

void Scheduler::Push(uint32_t queue, uint32_t tenant, uint8_t priority, TimeMs /*ready_since*/,
                     ReadyRef ref, uint32_t /*cost*/) {
  impl_->TenantAt(tenant);
  Queue& q = impl_->QueueAt(queue);
  const int level = priority < kPriorityLevels ? priority : kPriorityLevels - 1;
  q.levels[static_cast<size_t>(level)].push_back(Entry{ref, tenant});
  q.ready_mask |= 1u << level;
}

std::optional<Scheduler::Pick> Scheduler::Pop(uint32_t queue,
                                              const std::function<bool(ReadyRef)>& alive) {
  if (queue >= impl_->queues.size()) return std::nullopt;
  Queue& q = impl_->queues[queue];
  while (q.ready_mask != 0) {
    const int level = std::countr_zero(q.ready_mask);
    std::deque<Entry>& fifo = q.levels[static_cast<size_t>(level)];
    const Entry e = fifo.front();
    fifo.pop_front();
    if (fifo.empty()) q.ready_mask &= ~(1u << level);
    if (!alive(e.ref)) {
      ++impl_->totals.dropped_dead;
      continue;
    }
    Tenant& t = impl_->TenantAt(e.tenant);
    ++t.inflight;
    ++t.dispatched_total;
    ++q.inflight;
    ++impl_->totals.dispatched;
    return Pick{e.ref, e.tenant};
  }
  return std::nullopt;
}

void Scheduler::Release(uint32_t queue, uint32_t tenant) {
  if (queue < impl_->queues.size() && impl_->queues[queue].inflight > 0)
    --impl_->queues[queue].inflight;
  if (tenant < impl_->tenants.size() && impl_->tenants[tenant].inflight > 0)
    --impl_->tenants[tenant].inflight;
}

std::optional<TimeMs> Scheduler::NextEligible(uint32_t /*queue*/) const { return std::nullopt; }

TenantSchedStats Scheduler::TenantStats(uint32_t tenant) const {
  TenantSchedStats s;
  if (tenant >= impl_->tenants.size()) return s;
  const Tenant& t = impl_->tenants[tenant];
  s.inflight = t.inflight;
  s.dispatched_total = t.dispatched_total;
  s.limits = t.limits;
  return s;
}

uint32_t Scheduler::QueueInflight(uint32_t queue) const {
  return queue < impl_->queues.size() ? impl_->queues[queue].inflight : 0;
}

SchedulerTotals Scheduler::Totals() const { return impl_->totals; }

}  // namespace sluice::core
