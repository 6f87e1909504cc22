// Scheduler implementation. See scheduler.h for the rules and
// docs/scheduling.md for the algorithm and its guarantees.
//
// Data layout (all pools are vectors indexed by uint32; nothing is freed):
//
//   Stream (queue, batch key) ── levels[8] ── ring_head ──> Lane <-> Lane (circular DRR ring)
//     │                 ├─ ring_weight: sum of the weights of the lanes in the ring
//     │                 ├─ heap: lanes in the ring by head ready_since (aging levels)
//     │                 └─ eff, finish: effective level and SFQ finish tag
//     ├─ qt_by_tenant[tenant] ──> QueueTenant ── lanes[8] ──> Lane (FIFO of Entry)
//     └─ wheel: rate-parked QueueTenants, by the ms they get a token
//   QueueLimit (by queue) ── bucket, inflight: shared by every stream of the queue
//   Tenant ── bucket, inflight, cap_parked (QueueTenants waiting for Release)
//
// A queue's tasks without a batch key are its plain stream (key 0, found by
// index); each batch key with tasks has its own stream (found by hash), so a
// batch is formed from one key's tasks in the same order rules while the
// queue's limits stay one budget.
//
// Lane states:  idle (empty) ── Push ──> in ring ── Pop finds tenant held ──> parked
//                   ^                        │                                 │
//                   └──── emptied by Pop ────┘ <──── tokens / Release / limits ┘
// Parking is lazy: a lane leaves its ring only when it reaches the ring head
// while its tenant is held back, so a tenant running out of tokens costs
// nothing until the scheduler meets its lanes, and each lane is parked and
// unparked at most once per throttle episode.
//
// Aging is per native level. A level's age is the ready_since of the oldest
// head among the lanes in its ring (parked lanes do not count: a throttled
// tenant's old backlog must not promote its level for everyone). The heap
// that finds it is lazy: an entry's key is the lane's head ready_since when
// the entry was last checked, a lower bound of the true one, so only the top
// is ever made exact (FixTop). A level's effective level is recomputed when
// the clock reaches its next climb, when the lane on top of its heap is
// popped and its new head would not keep the level where it is, or when a
// lane joins the ring older than the top.
#include "core/scheduler.h"

#include <algorithm>
#include <bit>
#include <limits>
#include <unordered_map>
#include <utility>

#include "core/drr_park_wheel.h"
#include "core/drr_ring_buffer.h"
#include "core/token_bucket.h"

namespace sluice::core {
namespace {

constexpr uint32_t kNone = UINT32_MAX;
constexpr TimeMs kNever = std::numeric_limits<TimeMs>::max();
constexpr int kStatsSeconds = 60;

// A task in a lane: 16 bytes, so a lane's FIFO stays dense (the pop's cache
// miss on it is the largest single cost of a decision). ready_since is kept
// in 44 bits of ms (clamped to [0, year 2527]) and the cost in 20: a
// costlier task is charged kMaxCost, in share and in rate.
constexpr uint32_t kMaxCost = (1u << 20) - 1;
constexpr int kTimeBits = 44;
constexpr uint64_t kTimeMask = (uint64_t{1} << kTimeBits) - 1;

// The DRR quantum of a lane is weight x unit cost units, where unit is a
// moving average of the queue's task costs (pushed and dispatched, weight
// 1/16 each, a sample capped at twice the average). A lane is served while its deficit is positive and may end a
// turn in debt by up to one task's cost; a lane in debt skips turns, gaining
// a quantum each, until it has repaid. With the average as the unit most
// turns serve a task or a few (O(1) per dispatch) and a rare costly task
// costs its lane turns instead of making every lane's turn as long as it.
constexpr int64_t kUnitScale = 256;  // fixed point of the average
constexpr int kUnitShift = 4;        // weight 1/16

struct Entry {
  ReadyRef ref;
  uint64_t packed = 0;  // ready_since (low kTimeBits) | cost << kTimeBits
  static Entry Make(ReadyRef ref, TimeMs since, uint32_t cost) {
    const uint64_t t = std::min(static_cast<uint64_t>(std::max<TimeMs>(since, 0)), kTimeMask);
    return Entry{ref, t | (uint64_t{std::min(cost, kMaxCost)} << kTimeBits)};
  }
  TimeMs ready_since() const { return static_cast<TimeMs>(packed & kTimeMask); }
  uint32_t cost() const { return static_cast<uint32_t>(packed >> kTimeBits); }
};
static_assert(sizeof(Entry) == 16);

struct HeapEntry {
  TimeMs key = 0;      // lane head ready_since when last checked (<= the true one)
  uint32_t lane = kNone;
  uint32_t epoch = 0;  // the lane's ring_epoch when pushed; stale when it differs
};

enum class Park : uint8_t { kIdle, kCap, kRate };

}  // namespace

struct Scheduler::Impl {
  struct Lane {
    DrrRingBuffer<Entry> fifo;
    uint32_t prev = kNone;  // ring links, valid while in_ring
    uint32_t next = kNone;
    uint32_t qt = kNone;
    uint32_t ring_w = 0;      // weight counted in the level's ring_weight while in_ring
    uint32_t ring_epoch = 0;  // bumped at every ring join (heap entries of older stints stale)
    int64_t deficit = 0;      // cost units left in the current turn; < 0 is debt
    uint8_t level = 0;
    bool in_ring = false;
    bool parked = false;
    bool turn = false;  // this turn's quantum has been added
  };

  struct QueueTenant {
    uint32_t stream = 0;
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
    uint32_t ring_lanes = 0;
    uint64_t ring_weight = 0;
    std::vector<HeapEntry> heap;  // min-heap by key; aging levels only
    int eff = 0;                  // effective level; valid while the ring is non-empty
    double finish = 0;            // SFQ finish tag among levels at one effective level
  };

  // The lanes of one (queue, batch key): the queue's plain stream (key 0)
  // and one per batch key with tasks. Limits are the queue's (QueueLimit),
  // shared by all its streams.
  struct Stream {
    uint32_t queue = 0;
    std::array<Level, kPriorityLevels> levels;
    uint8_t ring_mask = 0;   // bit L: levels[L] ring non-empty
    uint8_t aged_mask = 0;   // bit L: ring non-empty and levels[L].eff < L
    uint8_t dirty_mask = 0;  // bit L: levels[L].eff must be recomputed
    TimeMs next_age_check = kNever;  // no level climbs before this
    double vtime = 0;                // SFQ virtual time (start tag of the last group pick)
    int64_t unit_avg = kUnitScale;   // moving average of costs, x kUnitScale
    uint32_t unit = 1;               // DRR quantum per unit of weight, cost units (>= 1)
    std::vector<uint32_t> qt_by_tenant;
    uint32_t rate_parked = 0;  // QueueTenants of this stream parked for rate
    DrrParkWheel wheel;
  };

  struct QueueLimit {
    Limits limits;
    TokenBucket bucket;
    uint32_t inflight = 0;
    bool limited = false;
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
    uint64_t dispatched_cost = 0;
    int64_t last_second = 0;
    std::array<uint32_t, kStatsSeconds> per_second{};
    std::vector<uint32_t> qts;
    std::vector<uint32_t> cap_parked;
  };

  Impl(const Clock& c, SchedulerOptions o) : clock(c), options(o) {
    for (int level = 0; level < kPriorityLevels; ++level) {
      aging[level] = level > 0 && options.aging_ms[level] > 0;
    }
  }

  // ---- lookup ----

  QueueLimit& LimitAt(uint32_t queue) {
    if (queue >= qlimits.size()) qlimits.resize(queue + 1);
    return qlimits[queue];
  }
  // The stream of (queue, batch key), created on first use.
  uint32_t StreamFor(uint32_t queue, uint32_t key) {
    LimitAt(queue);
    uint32_t* slot;
    if (key == 0) {
      if (queue >= plain.size()) plain.resize(queue + 1, kNone);
      slot = &plain[queue];
    } else {
      slot = &keyed.try_emplace(KeyOf(queue, key), kNone).first->second;
    }
    if (*slot == kNone) {
      *slot = static_cast<uint32_t>(streams.size());
      streams.emplace_back();
      streams.back().queue = queue;
    }
    return *slot;
  }
  // The stream of (queue, batch key), or nullptr when it never had a task.
  Stream* FindStream(uint32_t queue, uint32_t key) {
    if (key == 0) {
      return queue < plain.size() && plain[queue] != kNone ? &streams[plain[queue]] : nullptr;
    }
    auto it = keyed.find(KeyOf(queue, key));
    return it == keyed.end() ? nullptr : &streams[it->second];
  }
  const Stream* FindStream(uint32_t queue, uint32_t key) const {
    return const_cast<Impl*>(this)->FindStream(queue, key);
  }
  static uint64_t KeyOf(uint32_t queue, uint32_t key) { return (uint64_t{queue} << 32) | key; }
  Tenant& TenantAt(uint32_t tenant) {
    if (tenant >= tenants.size()) tenants.resize(tenant + 1);
    return tenants[tenant];
  }
  uint32_t QtFor(uint32_t stream, uint32_t tenant) {
    Stream& q = streams[stream];
    if (tenant >= q.qt_by_tenant.size()) q.qt_by_tenant.resize(tenant + 1, kNone);
    uint32_t& slot = q.qt_by_tenant[tenant];
    if (slot == kNone) {
      slot = static_cast<uint32_t>(qts.size());
      qts.emplace_back();
      qts.back().stream = stream;
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
  uint32_t WeightOf(const Lane& ln) const {
    return std::max<uint32_t>(1, tenants[qts[ln.qt].tenant].limits.weight);
  }

  // ---- quantum unit ----

  static void NoteCost(Stream& q, uint32_t cost) {
    // A sample counts at most twice the average: one outlier moves it by
    // 1/16, a lasting rise grows it by 6% per task.
    const int64_t sample = std::min(int64_t{cost} * kUnitScale, 2 * q.unit_avg);
    q.unit_avg += (sample - q.unit_avg) >> kUnitShift;
    q.unit = static_cast<uint32_t>(std::max<int64_t>(1, (q.unit_avg + kUnitScale / 2) / kUnitScale));
  }

  // ---- aging heap (per level, lazy; see the file comment) ----

  static bool HeapLess(const HeapEntry& a, const HeapEntry& b) { return a.key > b.key; }

  void SiftDown(std::vector<HeapEntry>& h, size_t i) {
    const size_t n = h.size();
    const HeapEntry e = h[i];
    for (;;) {
      size_t c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && h[c + 1].key < h[c].key) ++c;
      if (h[c].key >= e.key) break;
      h[i] = h[c];
      i = c;
    }
    h[i] = e;
  }

  bool HeapFresh(const HeapEntry& e) const {
    const Lane& ln = lanes[e.lane];
    return ln.in_ring && ln.ring_epoch == e.epoch;
  }

  // Makes the top entry exact: drops stale entries, refreshes an outdated
  // key. Afterwards heap.front() (if any) holds the oldest head in the ring.
  void FixTop(Level& lv) {
    auto& h = lv.heap;
    while (!h.empty()) {
      if (!HeapFresh(h.front())) {
        std::pop_heap(h.begin(), h.end(), HeapLess);
        h.pop_back();
        continue;
      }
      const TimeMs actual = lanes[h.front().lane].fifo.front().ready_since();
      if (actual == h.front().key) return;
      h.front().key = actual;
      SiftDown(h, 0);
    }
  }

  // Rebuilds a heap grown past twice its ring (entries of lanes that left
  // and rejoined): O(size), amortized O(1) per join.
  void CompactHeap(Level& lv) {
    auto& h = lv.heap;
    size_t out = 0;
    for (const HeapEntry& e : h) {
      if (!HeapFresh(e)) continue;
      h[out] = e;
      h[out].key = lanes[e.lane].fifo.front().ready_since();
      ++out;
    }
    h.resize(out);
    std::make_heap(h.begin(), h.end(), HeapLess);
  }

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

  void RecomputeLevel(Stream& q, int level, TimeMs now) {
    Level& lv = q.levels[level];
    const auto bit = static_cast<uint8_t>(1u << level);
    if ((q.ring_mask & bit) == 0) {
      q.aged_mask = static_cast<uint8_t>(q.aged_mask & ~bit);
      return;
    }
    FixTop(lv);
    if (lv.heap.empty()) {  // unreachable: every lane in the ring has an entry
      lv.eff = level;
      q.aged_mask = static_cast<uint8_t>(q.aged_mask & ~bit);
      return;
    }
    TimeMs next;
    lv.eff = EffectiveLevel(level, lv.heap.front().key, now, &next);
    if (lv.eff < level) {
      q.aged_mask = static_cast<uint8_t>(q.aged_mask | bit);
    } else {
      q.aged_mask = static_cast<uint8_t>(q.aged_mask & ~bit);
    }
    q.next_age_check = std::min(q.next_age_check, next);
  }

  void RefreshAging(Stream& q, TimeMs now) {
    if (now >= q.next_age_check) {
      q.next_age_check = kNever;
      q.dirty_mask = 0;
      for (uint32_t m = q.ring_mask; m != 0; m &= m - 1) {
        const int level = std::countr_zero(m);
        if (aging[level]) RecomputeLevel(q, level, now);
      }
      return;
    }
    for (uint32_t m = q.dirty_mask; m != 0; m &= m - 1) RecomputeLevel(q, std::countr_zero(m), now);
    q.dirty_mask = 0;
  }

  // After a pop from lane `li` of aging level `level`: the level's oldest
  // head may have changed only if the lane was on top of the heap.
  void AfterLanePop(Stream& q, int level, uint32_t li, TimeMs now) {
    Level& lv = q.levels[level];
    if (lv.heap.empty() || lv.heap.front().lane != li) return;
    const Lane& ln = lanes[li];
    if (ln.in_ring) {
      TimeMs unused;
      const int eff = EffectiveLevel(level, ln.fifo.front().ready_since(), now, &unused);
      if (eff == ((q.aged_mask >> level) & 1u ? lv.eff : level)) return;  // level stays put
    }
    q.dirty_mask = static_cast<uint8_t>(q.dirty_mask | (1u << level));
  }

  // ---- DRR ring ----

  void RingInsert(Stream& q, int level, uint32_t li) {
    Lane& ln = lanes[li];
    Level& lv = q.levels[level];
    ln.in_ring = true;
    ln.turn = false;
    ln.ring_w = WeightOf(ln);
    lv.ring_weight += ln.ring_w;
    ++lv.ring_lanes;
    if (lv.ring_head == kNone) {
      ln.prev = ln.next = li;
      lv.ring_head = li;
      q.ring_mask = static_cast<uint8_t>(q.ring_mask | (1u << level));
    } else {
      const uint32_t tail = lanes[lv.ring_head].prev;
      ln.prev = tail;
      ln.next = lv.ring_head;
      lanes[tail].next = li;
      lanes[lv.ring_head].prev = li;
    }
    if (!aging[level]) return;
    ++ln.ring_epoch;
    lv.heap.push_back(HeapEntry{ln.fifo.front().ready_since(), li, ln.ring_epoch});
    std::push_heap(lv.heap.begin(), lv.heap.end(), HeapLess);
    if (lv.heap.size() > 2 * size_t{lv.ring_lanes} + 32) CompactHeap(lv);
    // Only a lane that is now the oldest can move the level.
    if (lv.ring_lanes == 1 || lv.heap.front().lane == li) {
      q.dirty_mask = static_cast<uint8_t>(q.dirty_mask | (1u << level));
    }
  }

  // Leaves the lane's deficit debt (if any) in place: a lane that overspent
  // does not get a fresh quantum by emptying and refilling.
  void RingRemove(Stream& q, int level, uint32_t li) {
    Lane& ln = lanes[li];
    Level& lv = q.levels[level];
    ln.in_ring = false;
    ln.turn = false;
    ln.deficit = std::min<int64_t>(ln.deficit, 0);
    lv.ring_weight -= ln.ring_w;
    --lv.ring_lanes;
    const auto bit = static_cast<uint8_t>(1u << level);
    if (ln.next == li) {
      lv.ring_head = kNone;
      q.ring_mask = static_cast<uint8_t>(q.ring_mask & ~bit);
      q.aged_mask = static_cast<uint8_t>(q.aged_mask & ~bit);
    } else {
      lanes[ln.prev].next = ln.next;
      lanes[ln.next].prev = ln.prev;
      if (lv.ring_head == li) lv.ring_head = ln.next;
    }
    if (aging[level] && !lv.heap.empty() && lv.heap.front().lane == li) {
      q.dirty_mask = static_cast<uint8_t>(q.dirty_mask | bit);
    }
  }

  // ---- limits ----

  static double Charge(const Limits& l, uint32_t cost) {
    return l.rate_unit == RateUnit::kCost ? static_cast<double>(cost) : 1.0;
  }
  bool TenantAdmits(Tenant& t, TimeMs now) {
    if (t.limits.max_inflight != 0 && t.inflight >= t.limits.max_inflight) return false;
    return t.bucket.HasToken(now);
  }
  static bool QueueAdmits(QueueLimit& q, TimeMs now) {
    if (q.limits.max_inflight != 0 && q.inflight >= q.limits.max_inflight) return false;
    return q.bucket.HasToken(now);
  }

  // Parks one lane whose tenant is held back; the first parked lane of a
  // QueueTenant decides how it waits (Release or the wheel).
  void ParkLane(Stream& q, uint32_t li, TimeMs now) {
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
    if (qt.park == Park::kRate) --streams[qt.stream].rate_parked;
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
      ++streams[qt.stream].rate_parked;
      streams[qt.stream].wheel.Schedule(now, t.bucket.NextTokenAt(now), qti, qt.park_gen);
    }
  }

  // Precondition: qt.park is not kRate (Reevaluate took it off the count).
  void Unpark(uint32_t qti, TimeMs end) {
    QueueTenant& qt = qts[qti];
    Stream& q = streams[qt.stream];
    if (qt.park == Park::kIdle) return;
    qt.park = Park::kIdle;
    ++qt.park_gen;
    for (uint32_t mask = qt.parked_mask; mask != 0; mask &= mask - 1) {
      const int level = std::countr_zero(mask);
      const uint32_t li = qt.lanes[level];
      Lane& ln = lanes[li];
      ln.parked = false;
      if (!ln.fifo.empty()) RingInsert(q, level, li);
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

  void ExpireParked(Stream& q, TimeMs now) {
    q.wheel.Expire(now, [this, now](uint32_t qti, uint32_t gen, TimeMs due) {
      const QueueTenant& qt = qts[qti];
      if (qt.park != Park::kRate || qt.park_gen != gen) return;
      Reevaluate(qti, now, std::min(due, now));
    });
  }

  // ---- dispatch ----

  // The native level to serve next, or kPriorityLevels when no ring has a
  // lane. With no level aged this is the most urgent non-empty ring. Else the
  // levels at the most urgent effective level form a group and share it by
  // start-time fair queueing weighted by ring_weight: the level with the
  // smallest start tag max(vtime, finish) goes; ties go to the level that
  // climbed further (the higher native level). For a group pick *start
  // receives its tag and *grouped is set.
  int PickLevel(Stream& q, double* start, bool* grouped) const {
    *grouped = false;
    if ((q.aged_mask & q.ring_mask) == 0) {
      return q.ring_mask != 0 ? std::countr_zero(q.ring_mask) : kPriorityLevels;
    }
    int best_eff = kPriorityLevels;
    uint32_t group = 0;
    for (uint32_t m = q.ring_mask; m != 0; m &= m - 1) {
      const int level = std::countr_zero(m);
      const int eff = (q.aged_mask >> level) & 1u ? q.levels[level].eff : level;
      if (eff < best_eff) {
        best_eff = eff;
        group = 1u << level;
      } else if (eff == best_eff) {
        group |= 1u << level;
      }
    }
    if (std::has_single_bit(group)) return std::countr_zero(group);
    int pick = kPriorityLevels;
    double pick_start = 0;
    for (uint32_t m = group; m != 0; m &= m - 1) {
      const int level = std::countr_zero(m);
      const double s = std::max(q.vtime, q.levels[level].finish);
      if (pick == kPriorityLevels || s <= pick_start) {
        pick = level;
        pick_start = s;
      }
    }
    *start = pick_start;
    *grouped = true;
    return pick;
  }

  Pick Dispatch(QueueLimit& q, uint32_t tenant, const Entry& e, TimeMs now) {
    Tenant& t = tenants[tenant];
    ++q.inflight;
    q.bucket.Take(Charge(q.limits, e.cost()));
    ++t.inflight;
    t.bucket.Take(Charge(t.limits, e.cost()));
    ++t.dispatched_total;
    t.dispatched_cost += e.cost();
    ++dispatched_total;
    const int64_t second = now / 1000;
    AdvanceSeconds(t, second);
    ++t.per_second[static_cast<size_t>(second % kStatsSeconds)];
    return Pick{e.ref, tenant, e.ready_since()};
  }

  static void AdvanceSeconds(Tenant& t, int64_t second) {
    if (second <= t.last_second) return;
    const int64_t gap = std::min<int64_t>(second - t.last_second, kStatsSeconds);
    for (int64_t i = 1; i <= gap; ++i) {
      t.per_second[static_cast<size_t>((t.last_second + i) % kStatsSeconds)] = 0;
    }
    t.last_second = second;
  }

  std::optional<Pick> Pop(uint32_t queue, uint32_t key, const std::function<bool(ReadyRef)>& alive,
                          uint32_t max_cost, bool* over_cost) {
    if (over_cost != nullptr) *over_cost = false;
    Stream* found = FindStream(queue, key);
    if (found == nullptr) return std::nullopt;
    Stream& q = *found;
    // Nothing ready and nothing parked: nothing to pop, and no clock read
    // (a waiter served from an empty queue lands here on every commit).
    if (q.ring_mask == 0 && q.wheel.empty()) return std::nullopt;
    const TimeMs now = clock.NowMs();
    if (!q.wheel.empty()) ExpireParked(q, now);
    QueueLimit& ql = qlimits[queue];
    if (ql.limited && !QueueAdmits(ql, now)) return std::nullopt;
    for (;;) {
      if (q.dirty_mask != 0 || now >= q.next_age_check) RefreshAging(q, now);
      double start = 0;
      bool grouped = false;
      const int level = PickLevel(q, &start, &grouped);
      if (level == kPriorityLevels) return std::nullopt;
      Level& lv = q.levels[level];
      const uint32_t li = lv.ring_head;
      Lane& ln = lanes[li];
      const uint32_t tenant = qts[ln.qt].tenant;
      Tenant& t = tenants[tenant];
      if (t.limited && !TenantAdmits(t, now)) {
        ParkLane(q, li, now);
        continue;
      }
      if (!ln.turn) {
        ln.turn = true;
        ln.deficit += int64_t{ln.ring_w} * q.unit;
      }
      if (ln.deficit <= 0) {  // still repaying an oversized task: skip this turn
        ln.turn = false;
        lv.ring_head = ln.next;
        continue;
      }
      const Entry e = ln.fifo.front();
      if (e.cost() > max_cost && alive(e.ref)) {
        // Does not fit what the caller has room for: left where it is (the
        // lane keeps its turn and deficit).
        if (over_cost != nullptr) *over_cost = true;
        return std::nullopt;
      }
      ln.fifo.pop_front();
      if (!alive(e.ref)) {
        ++dropped_dead;
        if (ln.fifo.empty()) RingRemove(q, level, li);
        if (aging[level]) AfterLanePop(q, level, li, now);
        continue;
      }
      const uint64_t weight = lv.ring_weight;
      const bool aged = (q.aged_mask >> level) & 1u;
      ln.deficit -= e.cost();
      if (ln.fifo.empty()) {
        RingRemove(q, level, li);
      } else if (ln.deficit <= 0) {
        ln.turn = false;
        lv.ring_head = ln.next;
      }
      if (aging[level]) AfterLanePop(q, level, li, now);
      NoteCost(q, e.cost());
      if (grouped) {
        // Only group picks move the SFQ tags: vtime is the start tag of the
        // last group pick, and a level that was served alone meanwhile
        // starts again at vtime (start = max(vtime, finish)).
        q.vtime = start;
        lv.finish = start + static_cast<double>(e.cost()) / static_cast<double>(weight);
      }
      if (aged) ++dispatched_aged;
      return Dispatch(ql, tenant, e, now);
    }
  }

  std::optional<Pick> PopTenant(uint32_t queue, uint32_t tenant,
                                const std::function<bool(ReadyRef)>& alive) {
    Stream* found = FindStream(queue, 0);
    if (found == nullptr) return std::nullopt;
    Stream& q = *found;
    if (tenant >= q.qt_by_tenant.size() || q.qt_by_tenant[tenant] == kNone) return std::nullopt;
    const uint32_t qti = q.qt_by_tenant[tenant];
    const TimeMs now = clock.NowMs();
    if (!q.wheel.empty()) ExpireParked(q, now);
    QueueLimit& ql = qlimits[queue];
    if (ql.limited && !QueueAdmits(ql, now)) return std::nullopt;
    Tenant& t = tenants[tenant];
    if (t.limited && !TenantAdmits(t, now)) return std::nullopt;
    for (int level = 0; level < kPriorityLevels; ++level) {
      const uint32_t li = qts[qti].lanes[level];
      if (li == kNone) continue;
      Lane& ln = lanes[li];
      while (ln.in_ring) {  // in the ring: not parked, and its FIFO is not empty
        const Entry e = ln.fifo.front();
        ln.fifo.pop_front();
        if (ln.fifo.empty()) RingRemove(q, level, li);
        if (aging[level]) AfterLanePop(q, level, li, now);
        if (!alive(e.ref)) {
          ++dropped_dead;
          continue;
        }
        ln.deficit -= e.cost();
        NoteCost(q, e.cost());
        return Dispatch(ql, tenant, e, now);
      }
    }
    return std::nullopt;
  }

  void Push(uint32_t queue, uint32_t key, uint32_t tenant, uint8_t priority, TimeMs ready_since,
            ReadyRef ref, uint32_t cost) {
    cost = std::clamp<uint32_t>(cost, 1, kMaxCost);
    const int level = std::min<int>(priority, kLowestPriority);
    const uint32_t stream = StreamFor(queue, key);
    const uint32_t qti = QtFor(stream, tenant);
    const uint32_t li = LaneFor(qti, level);
    Stream& q = streams[stream];
    Lane& ln = lanes[li];
    ln.fifo.push_back(Entry::Make(ref, ready_since, cost));
    NoteCost(q, cost);
    if (!ln.in_ring && !ln.parked) {
      QueueTenant& qt = qts[qti];
      if (qt.park != Park::kIdle) {
        ln.parked = true;
        qt.parked_mask = static_cast<uint8_t>(qt.parked_mask | (1u << level));
      } else {
        RingInsert(q, level, li);
      }
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
      for (uint32_t li : qts[qti].lanes) {
        if (li == kNone || !lanes[li].in_ring) continue;
        Lane& ln = lanes[li];
        Level& lv = streams[qts[qti].stream].levels[ln.level];
        lv.ring_weight = lv.ring_weight - ln.ring_w + t.limits.weight;
        ln.ring_w = t.limits.weight;
      }
      if (qts[qti].park != Park::kIdle) Reevaluate(qti, now, now);
    }
    ReleaseCapParked(t, now);
  }

  void SetQueueLimits(uint32_t queue, const Limits& limits) {
    QueueLimit& q = LimitAt(queue);
    q.limits = limits;
    q.bucket.Configure(limits.rate_per_s, limits.burst, clock.NowMs());
    q.limited = q.bucket.limited() || limits.max_inflight != 0;
  }

  bool TryDispatch(uint32_t queue, uint32_t tenant, uint32_t cost) {
    const TimeMs now = clock.NowMs();
    QueueLimit& ql = LimitAt(queue);
    Tenant& t = TenantAt(tenant);
    if (ql.limited && !QueueAdmits(ql, now)) return false;
    if (t.limited && !TenantAdmits(t, now)) return false;
    Dispatch(ql, tenant, Entry::Make(ReadyRef{}, now, std::clamp<uint32_t>(cost, 1, kMaxCost)), now);
    return true;
  }

  void Release(uint32_t queue, uint32_t tenant) {
    if (queue < qlimits.size() && qlimits[queue].inflight > 0) --qlimits[queue].inflight;
    if (tenant >= tenants.size()) return;
    Tenant& t = tenants[tenant];
    if (t.inflight > 0) --t.inflight;
    ReleaseCapParked(t, clock.NowMs());
  }

  std::optional<TimeMs> NextEligible(uint32_t queue, uint32_t key) const {
    const Stream* found = FindStream(queue, key);
    if (found == nullptr) return std::nullopt;
    const Stream& q = *found;
    const QueueLimit& ql = qlimits[queue];
    if (ql.bucket.limited() && (q.ring_mask != 0 || !q.wheel.empty())) {
      const TimeMs now = clock.NowMs();
      const TimeMs at = ql.bucket.NextTokenAt(now);
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
    s.dispatched_cost_total = t.dispatched_cost;
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
  std::vector<Stream> streams;
  std::vector<uint32_t> plain;                   // queue -> its plain stream (kNone: none yet)
  std::unordered_map<uint64_t, uint32_t> keyed;  // (queue, batch key) -> stream
  std::vector<QueueLimit> qlimits;               // by queue
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
  return queue < impl_->qlimits.size() ? impl_->qlimits[queue].limits : Limits{};
}

void Scheduler::Push(uint32_t queue, uint32_t tenant, uint8_t priority, TimeMs ready_since,
                     ReadyRef ref, uint32_t cost) {
  impl_->Push(queue, 0, tenant, priority, ready_since, ref, cost);
}

void Scheduler::PushKeyed(uint32_t queue, uint32_t batch_key, uint32_t tenant, uint8_t priority,
                          TimeMs ready_since, ReadyRef ref, uint32_t cost) {
  impl_->Push(queue, batch_key, tenant, priority, ready_since, ref, cost);
}

std::optional<Scheduler::Pick> Scheduler::Pop(uint32_t queue,
                                              const std::function<bool(ReadyRef)>& alive) {
  return impl_->Pop(queue, 0, alive, UINT32_MAX, nullptr);
}

std::optional<Scheduler::Pick> Scheduler::PopKeyed(uint32_t queue, uint32_t batch_key,
                                                   const std::function<bool(ReadyRef)>& alive,
                                                   uint32_t max_cost, bool* over_cost) {
  return impl_->Pop(queue, batch_key, alive, max_cost, over_cost);
}

std::optional<Scheduler::Pick> Scheduler::PopTenant(uint32_t queue, uint32_t tenant,
                                                    const std::function<bool(ReadyRef)>& alive) {
  return impl_->PopTenant(queue, tenant, alive);
}

void Scheduler::Release(uint32_t queue, uint32_t tenant) { impl_->Release(queue, tenant); }

bool Scheduler::TryDispatch(uint32_t queue, uint32_t tenant, uint32_t cost) {
  return impl_->TryDispatch(queue, tenant, cost);
}

std::optional<TimeMs> Scheduler::NextEligible(uint32_t queue, uint32_t batch_key) const {
  return impl_->NextEligible(queue, batch_key);
}

TenantSchedStats Scheduler::TenantStats(uint32_t tenant) const { return impl_->Stats(tenant); }

TimeMs Scheduler::OldestReadySince(uint32_t queue) const {
  const Impl::Stream* q = impl_->FindStream(queue, 0);
  if (q == nullptr) return 0;
  TimeMs oldest = 0;
  for (const uint32_t qt : q->qt_by_tenant) {
    if (qt == kNone) continue;
    for (const uint32_t li : impl_->qts[qt].lanes) {
      if (li == kNone) continue;
      const auto& fifo = impl_->lanes[li].fifo;
      if (fifo.empty()) continue;
      const TimeMs since = std::max<TimeMs>(1, fifo.front().ready_since());
      if (oldest == 0 || since < oldest) oldest = since;
    }
  }
  return oldest;
}

uint32_t Scheduler::QueueInflight(uint32_t queue) const {
  return queue < impl_->qlimits.size() ? impl_->qlimits[queue].inflight : 0;
}

SchedulerTotals Scheduler::Totals() const {
  SchedulerTotals totals;
  totals.dispatched = impl_->dispatched_total;
  totals.dispatched_aged = impl_->dispatched_aged;
  totals.dropped_dead = impl_->dropped_dead;
  return totals;
}

}  // namespace sluice::core
