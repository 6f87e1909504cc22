// Scheduler implementation. See scheduler.h for the rules and
// docs/scheduling.md for the algorithm and its guarantees.
//
// Data layout (all pools are vectors indexed by uint32; nothing is freed):
//
//   Queue ── levels[8] ── ring_head ──> Lane <-> Lane <-> Lane (circular DRR ring)
//     │                 ├─ ages: FIFO of (lane, seq), one per pushed task (aging)
//     │                 └─ aged_return: lanes whose aged heads were passed over
//     ├─ qt_by_tenant[tenant] ──> QueueTenant ── lanes[8] ──> Lane (FIFO of Entry)
//     ├─ bucket, inflight                      (queue limits)
//     └─ wheel: rate-parked QueueTenants, by the ms they get a token
//   Tenant ── bucket, inflight, cap_parked (QueueTenants waiting for Release)
//
// Lane states:  idle (empty) ── Push ──> in ring ── Pop finds tenant held ──> parked
//                   ^                        │                                 │
//                   └──── emptied by Pop ────┘ <──── tokens / Release / limits ┘
// Parking is lazy: a lane leaves its ring only when it reaches the ring head
// (or the aged path) while its tenant is held back, so a tenant running out
// of tokens costs nothing until the scheduler meets its lanes, and each lane
// is parked and unparked at most once per throttle episode.
#include "core/scheduler.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <limits>
#include <utility>

#include "core/drr_park_wheel.h"
#include "core/drr_ring_buffer.h"
#include "core/token_bucket.h"

namespace sluice::core {
namespace {

constexpr uint32_t kNone = UINT32_MAX;
constexpr TimeMs kNever = std::numeric_limits<TimeMs>::max();
constexpr TimeMs kAlways = std::numeric_limits<TimeMs>::min();
constexpr int kStatsSeconds = 60;

// Lane sequence numbers wrap; a lane never holds 2^31 tasks.
bool SeqBefore(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) < 0; }

struct Entry {
  ReadyRef ref;
  TimeMs ready_since = 0;
};

struct AgeEntry {
  uint32_t lane = kNone;
  uint32_t seq = 0;  // the lane sequence number of the task
};

enum class Park : uint8_t { kIdle, kCap, kRate };

}  // namespace

struct Scheduler::Impl {
  struct Lane {
    DrrRingBuffer<Entry> fifo;
    uint32_t prev = kNone;  // ring links, valid while in_ring
    uint32_t next = kNone;
    uint32_t qt = kNone;
    uint32_t deficit = 0;        // dispatches left in the current DRR turn
    uint32_t head_seq = 0;       // sequence number of fifo.front()
    uint32_t deferred_upto = 0;  // with has_deferred: tasks up to here were passed over by aging
    uint8_t level = 0;
    bool in_ring = false;
    bool parked = false;
    bool has_deferred = false;
    bool in_aged_return = false;
  };

  struct QueueTenant {
    uint32_t queue = 0;
    uint32_t tenant = 0;
    std::array<uint32_t, kPriorityLevels> lanes;
    uint32_t park_gen = 0;    // bumped on every park change; stale wheel entries ignored
    uint8_t parked_mask = 0;  // levels whose lane is parked
    Park park = Park::kIdle;
    bool in_cap_list = false;
    QueueTenant() { lanes.fill(kNone); }
  };

  struct Level {
    uint32_t ring_head = kNone;
    DrrRingBuffer<AgeEntry> ages;
    DrrRingBuffer<uint32_t> aged_return;
  };

  struct Queue {
    std::array<Level, kPriorityLevels> levels;
    uint8_t ring_mask = 0;  // bit L: levels[L] ring non-empty
    bool limited = false;
    TimeMs next_age_check = kNever;  // no front of an age list climbs before this
    std::vector<uint32_t> qt_by_tenant;
    Limits limits;
    TokenBucket bucket;
    uint32_t inflight = 0;
    uint32_t rate_parked = 0;  // QueueTenants of this queue parked for rate
    DrrParkWheel wheel;
  };

  struct Tenant {
    Limits limits;
    TokenBucket bucket;
    bool limited = false;
    uint32_t inflight = 0;
    uint32_t parked_qts = 0;
    TimeMs throttled_since = 0;
    uint64_t throttled_ms = 0;
    uint64_t dispatched_total = 0;
    int64_t last_second = 0;
    std::array<uint32_t, kStatsSeconds> per_second{};
    std::vector<uint32_t> qts;
    std::vector<uint32_t> cap_parked;
  };

  struct AgedPick {
    uint32_t lane = kNone;
    int eff = kPriorityLevels;
    int level = 0;
  };

  Impl(const Clock& c, SchedulerOptions o) : clock(c), options(o) {
    for (int level = 0; level < kPriorityLevels; ++level) {
      aging[level] = level > 0 && options.aging_ms[level] > 0;
    }
  }

  // ---- lookup ----

  Queue& QueueAt(uint32_t queue) {
    if (queue >= queues.size()) queues.resize(queue + 1);
    return queues[queue];
  }
  Tenant& TenantAt(uint32_t tenant) {
    if (tenant >= tenants.size()) tenants.resize(tenant + 1);
    return tenants[tenant];
  }
  uint32_t QtFor(uint32_t queue, uint32_t tenant) {
    Queue& q = QueueAt(queue);
    if (tenant >= q.qt_by_tenant.size()) q.qt_by_tenant.resize(tenant + 1, kNone);
    uint32_t& slot = q.qt_by_tenant[tenant];
    if (slot == kNone) {
      slot = static_cast<uint32_t>(qts.size());
      qts.emplace_back();
      qts.back().queue = queue;
      qts.back().tenant = tenant;
      TenantAt(tenant).qts.push_back(slot);
    }
    return slot;
  }
  uint32_t LaneFor(uint32_t qt, int level) {
    uint32_t li = qts[qt].lanes[level];
    if (li == kNone) {
      li = static_cast<uint32_t>(lanes.size());
      lanes.emplace_back();
      lanes.back().qt = qt;
      lanes.back().level = static_cast<uint8_t>(level);
      qts[qt].lanes[level] = li;
    }
    return li;
  }

  // ---- DRR ring ----

  void RingInsert(Queue& q, int level, uint32_t li) {
    Lane& ln = lanes[li];
    Level& lv = q.levels[level];
    ln.in_ring = true;
    ln.deficit = 0;
    if (lv.ring_head == kNone) {
      ln.prev = ln.next = li;
      lv.ring_head = li;
      q.ring_mask = static_cast<uint8_t>(q.ring_mask | (1u << level));
      return;
    }
    const uint32_t tail = lanes[lv.ring_head].prev;
    ln.prev = tail;
    ln.next = lv.ring_head;
    lanes[tail].next = li;
    lanes[lv.ring_head].prev = li;
  }

  void RingRemove(Queue& q, int level, uint32_t li) {
    Lane& ln = lanes[li];
    Level& lv = q.levels[level];
    ln.in_ring = false;
    ln.deficit = 0;
    if (ln.next == li) {
      lv.ring_head = kNone;
      q.ring_mask = static_cast<uint8_t>(q.ring_mask & ~(1u << level));
      return;
    }
    lanes[ln.prev].next = ln.next;
    lanes[ln.next].prev = ln.prev;
    if (lv.ring_head == li) lv.ring_head = ln.next;
  }

  // ---- limits ----

  bool TenantAdmits(Tenant& t, TimeMs now) {
    if (t.limits.max_inflight != 0 && t.inflight >= t.limits.max_inflight) return false;
    return t.bucket.HasToken(now);
  }
  bool QueueAdmits(Queue& q, TimeMs now) {
    if (q.limits.max_inflight != 0 && q.inflight >= q.limits.max_inflight) return false;
    return q.bucket.HasToken(now);
  }

  // Parks one lane whose tenant is held back; the first parked lane of a
  // QueueTenant decides how it waits (Release or the wheel).
  void ParkLane(Queue& q, uint32_t li, TimeMs now) {
    Lane& ln = lanes[li];
    if (ln.in_ring) RingRemove(q, ln.level, li);
    ln.parked = true;
    QueueTenant& qt = qts[ln.qt];
    qt.parked_mask = static_cast<uint8_t>(qt.parked_mask | (1u << ln.level));
    if (qt.park != Park::kIdle) return;
    Tenant& t = tenants[qt.tenant];
    if (t.parked_qts++ == 0) t.throttled_since = now;
    Reevaluate(ln.qt, now, now);
  }

  // A parked QueueTenant's reason to wait may have ended: unpark it, or wait
  // on whatever still holds it back. `end` closes the throttled interval.
  void Reevaluate(uint32_t qti, TimeMs now, TimeMs end) {
    QueueTenant& qt = qts[qti];
    if (qt.park == Park::kRate) --queues[qt.queue].rate_parked;
    Tenant& t = tenants[qt.tenant];
    const bool cap = t.limits.max_inflight != 0 && t.inflight >= t.limits.max_inflight;
    const bool rate = !cap && !t.bucket.HasToken(now);
    if (!cap && !rate) {
      Unpark(qti, end);
      return;
    }
    ++qt.park_gen;
    if (cap) {
      qt.park = Park::kCap;
      if (!qt.in_cap_list) {
        qt.in_cap_list = true;
        t.cap_parked.push_back(qti);
      }
    } else {
      qt.park = Park::kRate;
      ++queues[qt.queue].rate_parked;
      queues[qt.queue].wheel.Schedule(now, t.bucket.NextTokenAt(now), qti, qt.park_gen);
    }
  }

  // Precondition: qt.park is not kRate (Reevaluate took it off the count).
  void Unpark(uint32_t qti, TimeMs end) {
    QueueTenant& qt = qts[qti];
    Queue& q = queues[qt.queue];
    if (qt.park == Park::kIdle) return;
    qt.park = Park::kIdle;
    ++qt.park_gen;
    for (uint32_t mask = qt.parked_mask; mask != 0; mask &= mask - 1) {
      const int level = std::countr_zero(mask);
      const uint32_t li = qt.lanes[level];
      Lane& ln = lanes[li];
      ln.parked = false;
      if (ln.fifo.empty()) continue;
      RingInsert(q, level, li);
      if (ln.has_deferred) {
        if (SeqBefore(ln.deferred_upto, ln.head_seq)) {
          ln.has_deferred = false;
        } else {
          if (!ln.in_aged_return) {
            ln.in_aged_return = true;
            q.levels[level].aged_return.push_back(li);
          }
          q.next_age_check = kAlways;
        }
      }
    }
    qt.parked_mask = 0;
    Tenant& t = tenants[qt.tenant];
    if (--t.parked_qts == 0) {
      t.throttled_ms += static_cast<uint64_t>(std::max<TimeMs>(0, end - t.throttled_since));
    }
  }

  void ReleaseCapParked(Tenant& t, TimeMs now) {
    if (t.cap_parked.empty()) return;
    if (t.limits.max_inflight != 0 && t.inflight >= t.limits.max_inflight) return;
    scratch.swap(t.cap_parked);
    for (uint32_t qti : scratch) {
      qts[qti].in_cap_list = false;
      if (qts[qti].park == Park::kCap) Reevaluate(qti, now, now);
    }
    scratch.clear();
  }

  void ExpireParked(Queue& q, TimeMs now) {
    q.wheel.Expire(now, [this, now](uint32_t qti, uint32_t gen, TimeMs due) {
      const QueueTenant& qt = qts[qti];
      if (qt.park != Park::kRate || qt.park_gen != gen) return;
      Reevaluate(qti, now, std::min(due, now));
    });
  }

  // ---- aging ----

  // The level a task of `level` ready since `since` competes at, and the
  // time it climbs next (kNever when it cannot).
  int EffectiveLevel(int level, TimeMs since, TimeMs now, TimeMs* next_climb) const {
    const TimeMs waited = now - since;
    TimeMs acc = 0;
    int eff = level;
    while (eff > 0 && options.aging_ms[eff] > 0) {
      if (waited < acc + options.aging_ms[eff]) {
        *next_climb = since + acc + options.aging_ms[eff];
        return eff;
      }
      acc += options.aging_ms[eff];
      --eff;
    }
    *next_climb = kNever;
    return eff;
  }

  void TrimAges(Level& lv) {
    while (!lv.ages.empty() &&
           SeqBefore(lv.ages.front().seq, lanes[lv.ages.front().lane].head_seq)) {
      lv.ages.pop_front();
    }
  }

  // The oldest aged task (as a lane whose head it is) over all levels, most
  // urgent effective level first; on a tie the one from the lower original
  // level (it climbed further). Aged tasks whose lane is parked are passed
  // over and return with their lane (aged_return). Refreshes next_age_check.
  AgedPick FindAged(Queue& q, TimeMs now) {
    AgedPick best;
    bool any_aged = false;
    TimeMs next_check = kNever;
    for (int level = kPriorityLevels - 1; level >= 1; --level) {
      if (!aging[level]) continue;
      Level& lv = q.levels[level];
      uint32_t li = kNone;
      TimeMs since = 0;
      bool found = false;
      while (!lv.aged_return.empty()) {
        const uint32_t c = lv.aged_return.front();
        Lane& ln = lanes[c];
        if (!ln.parked && !ln.fifo.empty() && ln.has_deferred &&
            !SeqBefore(ln.deferred_upto, ln.head_seq)) {
          li = c;
          break;
        }
        lv.aged_return.pop_front();
        ln.in_aged_return = false;
        if (!ln.parked) ln.has_deferred = false;
      }
      if (li != kNone) {
        since = lanes[li].fifo.front().ready_since;
        found = true;
      }
      while (!found && !lv.ages.empty()) {
        const AgeEntry e = lv.ages.front();
        Lane& ln = lanes[e.lane];
        if (SeqBefore(e.seq, ln.head_seq)) {
          lv.ages.pop_front();
          continue;
        }
        since = ln.fifo.at(e.seq - ln.head_seq).ready_since;
        found = true;
        if (!ln.parked && e.seq == ln.head_seq) {
          li = e.lane;
          break;
        }
        TimeMs unused;
        if (EffectiveLevel(level, since, now, &unused) == level) break;  // not aged yet
        // Aged but its lane cannot go now: pass it over.
        lv.ages.pop_front();
        found = false;
        ln.has_deferred = true;
        ln.deferred_upto = e.seq;
        if (!ln.parked && !ln.in_aged_return) {
          ln.in_aged_return = true;
          lv.aged_return.push_back(e.lane);
          li = e.lane;
          since = ln.fifo.front().ready_since;
          found = true;
        }
      }
      if (!found) continue;
      TimeMs next_climb;
      const int eff = EffectiveLevel(level, since, now, &next_climb);
      if (li != kNone && eff < level) {
        any_aged = true;
        if (eff < best.eff) best = AgedPick{li, eff, level};
      } else {
        next_check = std::min(next_check, next_climb);
      }
    }
    q.next_age_check = any_aged ? now : next_check;
    return best;
  }

  // ---- dispatch ----

  Entry PopHead(Queue& q, uint32_t li) {
    Lane& ln = lanes[li];
    const Entry e = ln.fifo.front();
    ln.fifo.pop_front();
    ++ln.head_seq;
    if (ln.fifo.empty() && ln.in_ring) RingRemove(q, ln.level, li);
    return e;
  }

  Pick Dispatch(Queue& q, uint32_t tenant, ReadyRef ref, TimeMs now) {
    Tenant& t = tenants[tenant];
    ++q.inflight;
    q.bucket.Take();
    ++t.inflight;
    t.bucket.Take();
    ++t.dispatched_total;
    ++dispatched_total;
    const int64_t second = now / 1000;
    AdvanceSeconds(t, second);
    ++t.per_second[static_cast<size_t>(second % kStatsSeconds)];
    return Pick{ref, tenant};
  }

  static void AdvanceSeconds(Tenant& t, int64_t second) {
    if (second <= t.last_second) return;
    const int64_t gap = std::min<int64_t>(second - t.last_second, kStatsSeconds);
    for (int64_t i = 1; i <= gap; ++i) {
      t.per_second[static_cast<size_t>((t.last_second + i) % kStatsSeconds)] = 0;
    }
    t.last_second = second;
  }

  std::optional<Pick> Pop(uint32_t queue, const std::function<bool(ReadyRef)>& alive) {
    if (queue >= queues.size()) return std::nullopt;
    Queue& q = queues[queue];
    // Nothing ready and nothing parked: nothing to pop, and no clock read
    // (a waiter served from an empty queue lands here on every commit).
    if (q.ring_mask == 0 && q.wheel.empty()) return std::nullopt;
    const TimeMs now = clock.NowMs();
    if (!q.wheel.empty()) ExpireParked(q, now);
    if (q.limited && !QueueAdmits(q, now)) return std::nullopt;
    for (;;) {
      const int native = q.ring_mask != 0 ? std::countr_zero(q.ring_mask) : kPriorityLevels;
      if (now >= q.next_age_check) {
        const AgedPick aged = FindAged(q, now);
        if (aged.lane != kNone && aged.eff <= native) {
          const uint32_t tenant = qts[lanes[aged.lane].qt].tenant;
          Tenant& t = tenants[tenant];
          if (t.limited && !TenantAdmits(t, now)) {
            ParkLane(q, aged.lane, now);
            continue;
          }
          const Entry e = PopHead(q, aged.lane);
          TrimAges(q.levels[aged.level]);
          if (!alive(e.ref)) {
            ++dropped_dead;
            continue;
          }
          ++dispatched_aged;
          return Dispatch(q, tenant, e.ref, now);
        }
      }
      if (native == kPriorityLevels) return std::nullopt;
      Level& lv = q.levels[native];
      const uint32_t li = lv.ring_head;
      Lane& ln = lanes[li];
      const uint32_t tenant = qts[ln.qt].tenant;
      Tenant& t = tenants[tenant];
      if (t.limited && !TenantAdmits(t, now)) {
        ParkLane(q, li, now);
        continue;
      }
      const Entry e = ln.fifo.front();
      ln.fifo.pop_front();
      ++ln.head_seq;
      if (aging[native]) TrimAges(lv);
      if (!alive(e.ref)) {
        ++dropped_dead;
        if (ln.fifo.empty()) RingRemove(q, native, li);
        continue;
      }
      if (ln.deficit == 0) ln.deficit = std::max<uint32_t>(1, t.limits.weight);
      --ln.deficit;
      if (ln.fifo.empty()) {
        RingRemove(q, native, li);
      } else if (ln.deficit == 0) {
        lv.ring_head = ln.next;
      }
      return Dispatch(q, tenant, e.ref, now);
    }
  }

  void Push(uint32_t queue, uint32_t tenant, uint8_t priority, TimeMs ready_since, ReadyRef ref) {
    const int level = std::min<int>(priority, kLowestPriority);
    const uint32_t qti = QtFor(queue, tenant);
    const uint32_t li = LaneFor(qti, level);
    Queue& q = queues[queue];
    Lane& ln = lanes[li];
    ln.fifo.push_back(Entry{ref, ready_since});
    if (!ln.in_ring && !ln.parked) {
      QueueTenant& qt = qts[qti];
      if (qt.park != Park::kIdle) {
        ln.parked = true;
        qt.parked_mask = static_cast<uint8_t>(qt.parked_mask | (1u << level));
      } else {
        RingInsert(q, level, li);
      }
    }
    if (aging[level]) {
      Level& lv = q.levels[level];
      if (lv.ages.empty()) {
        q.next_age_check = std::min(q.next_age_check, ready_since + options.aging_ms[level]);
      }
      lv.ages.push_back(AgeEntry{li, ln.head_seq + ln.fifo.size() - 1});
    }
  }

  void SetTenantLimits(uint32_t tenant, const Limits& limits) {
    const TimeMs now = clock.NowMs();
    Tenant& t = TenantAt(tenant);
    t.limits = limits;
    t.limits.weight = std::max<uint32_t>(1, limits.weight);
    t.bucket.Configure(limits.rate_per_s, limits.burst, now);
    t.limited = t.bucket.limited() || limits.max_inflight != 0;
    for (uint32_t qti : t.qts) {
      if (qts[qti].park != Park::kIdle) Reevaluate(qti, now, now);
    }
    ReleaseCapParked(t, now);
  }

  void SetQueueLimits(uint32_t queue, const Limits& limits) {
    Queue& q = QueueAt(queue);
    q.limits = limits;
    q.bucket.Configure(limits.rate_per_s, limits.burst, clock.NowMs());
    q.limited = q.bucket.limited() || limits.max_inflight != 0;
  }

  void Release(uint32_t queue, uint32_t tenant) {
    if (queue < queues.size() && queues[queue].inflight > 0) --queues[queue].inflight;
    if (tenant >= tenants.size()) return;
    Tenant& t = tenants[tenant];
    if (t.inflight > 0) --t.inflight;
    ReleaseCapParked(t, clock.NowMs());
  }

  std::optional<TimeMs> NextEligible(uint32_t queue) const {
    if (queue >= queues.size()) return std::nullopt;
    const Queue& q = queues[queue];
    if (q.bucket.limited() && (q.ring_mask != 0 || !q.wheel.empty())) {
      const TimeMs now = clock.NowMs();
      const TimeMs at = q.bucket.NextTokenAt(now);
      if (at > now) return at;
    }
    if (q.rate_parked == 0) return std::nullopt;
    return q.wheel.Earliest();
  }

  TenantSchedStats Stats(uint32_t tenant) const {
    TenantSchedStats s;
    if (tenant >= tenants.size()) return s;
    const Tenant& t = tenants[tenant];
    const TimeMs now = clock.NowMs();
    s.inflight = t.inflight;
    s.throttled_ms = t.throttled_ms;
    if (t.parked_qts > 0)
      s.throttled_ms += static_cast<uint64_t>(std::max<TimeMs>(0, now - t.throttled_since));
    s.dispatched_total = t.dispatched_total;
    const int64_t second = now / 1000;
    for (int64_t sec = std::max(second - kStatsSeconds + 1, t.last_second - kStatsSeconds + 1);
         sec <= std::min(second, t.last_second); ++sec) {
      s.dispatched_last_minute += t.per_second[static_cast<size_t>(sec % kStatsSeconds)];
    }
    s.limits = t.limits;
    return s;
  }

  const Clock& clock;
  const SchedulerOptions options;
  std::array<bool, kPriorityLevels> aging{};
  std::vector<Queue> queues;
  std::vector<Tenant> tenants;
  std::vector<QueueTenant> qts;
  std::vector<Lane> lanes;
  std::vector<uint32_t> scratch;
  uint64_t dispatched_total = 0;
  uint64_t dispatched_aged = 0;
  uint64_t dropped_dead = 0;
};

Scheduler::Scheduler(const Clock& clock, SchedulerOptions options)
    : impl_(std::make_unique<Impl>(clock, options)) {}

Scheduler::~Scheduler() = default;

void Scheduler::SetTenantLimits(uint32_t tenant, const Limits& limits) {
  impl_->SetTenantLimits(tenant, limits);
}

void Scheduler::SetQueueLimits(uint32_t queue, const Limits& limits) {
  impl_->SetQueueLimits(queue, limits);
}

Limits Scheduler::TenantLimits(uint32_t tenant) const {
  return tenant < impl_->tenants.size() ? impl_->tenants[tenant].limits : Limits{};
}

Limits Scheduler::QueueLimits(uint32_t queue) const {
  return queue < impl_->queues.size() ? impl_->queues[queue].limits : Limits{};
}

void Scheduler::Push(uint32_t queue, uint32_t tenant, uint8_t priority, TimeMs ready_since,
                     ReadyRef ref) {
  impl_->Push(queue, tenant, priority, ready_since, ref);
}

std::optional<Scheduler::Pick> Scheduler::Pop(uint32_t queue,
                                              const std::function<bool(ReadyRef)>& alive) {
  return impl_->Pop(queue, alive);
}

void Scheduler::Release(uint32_t queue, uint32_t tenant) { impl_->Release(queue, tenant); }

std::optional<TimeMs> Scheduler::NextEligible(uint32_t queue) const {
  return impl_->NextEligible(queue);
}

TenantSchedStats Scheduler::TenantStats(uint32_t tenant) const { return impl_->Stats(tenant); }

uint32_t Scheduler::QueueInflight(uint32_t queue) const {
  return queue < impl_->queues.size() ? impl_->queues[queue].inflight : 0;
}

SchedulerTotals Scheduler::Totals() const {
  SchedulerTotals totals;
  totals.dispatched = impl_->dispatched_total;
  totals.dispatched_aged = impl_->dispatched_aged;
  totals.dropped_dead = impl_->dropped_dead;
  return totals;
}

}  // namespace sluice::core
