// TenantQuotas: each tenant's quotas (Limits::max_queued, Limits::max_bytes)
// and the usage they are checked against (docs/security.md, "Quotas").
//
// Usage of one tenant, kept in step by the engine in O(1) per transition:
//
//   queued   its live tasks: ready, delayed, leased, and those whose write is
//            in flight. Dead letters are not queued: no worker will take them.
//   bytes    StoredBytes (core/task.h) of its live tasks AND of its dead
//            letters: both hold disk until acked or purged, so a tenant
//            cannot fill the disk with dead letters either.
//   pending  enqueues admitted by Reserve whose write is in flight (count and
//            bytes), checked with the above, so the enqueues of one group
//            commit cannot overshoot a quota between them.
//
//   transition               queued   bytes
//   enqueue committed          +1     +b      (AddLive; Unreserve ends pending)
//   ack, purge, queue delete   -1     -b      (RemoveLive)
//   to dead letter             -1      =      (RemoveLive + AddDead)
//   redrive                    +1      =      (RemoveDead + AddLive)
//   dead letter purged          =     -b      (RemoveDead)
//
// A quota is checked only where new data comes in (Reserve, at enqueue); a
// redrive, an operator's act, is not refused and may leave a tenant above its
// max_queued. Lowering a quota below the usage refuses the next enqueue and
// touches nothing that exists.
//
// Tenants are the engine's interned ids (dense, small). Single-threaded: the
// engine's loop thread.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace sluice::core {

struct TenantUsage {
  uint64_t max_queued = 0;  // quota; 0 = none
  uint64_t max_bytes = 0;   // quota; 0 = none
  uint64_t queued = 0;
  uint64_t bytes = 0;
  uint64_t pending_queued = 0;
  uint64_t pending_bytes = 0;
  uint64_t refused = 0;  // enqueues refused by a quota since the process started
};

class TenantQuotas {
 public:
  // Sets the tenant's quotas; 0 = none. Usage is not touched.
  void SetQuotas(uint32_t tenant, uint64_t max_queued, uint64_t max_bytes);
  // True while some tenant has a quota: only then must an enqueue ask Reserve
  // (an enqueue of a tenant without quotas skips it; see engine_enqueue.cc).
  bool any() const { return limited_ != 0; }
  bool Limited(uint32_t tenant) const {
    return tenant < usage_.size() && (usage_[tenant].max_queued | usage_[tenant].max_bytes) != 0;
  }

  // Admits one task of `bytes` for `tenant` (named `name` in the message) and
  // counts it pending until Unreserve. Refused when the task would take the
  // tenant past a quota: kResourceExhausted naming the tenant, the quota, its
  // limit and the usage, and what the caller can do; the refusal is counted.
  Status Reserve(uint32_t tenant, std::string_view name, uint32_t bytes);
  // Counts one more refused enqueue (one refused for an earlier refusal).
  void CountRefused(uint32_t tenant) { ++At(tenant).refused; }
  // The write of a Reserve'd task completed, committed or not.
  void Unreserve(uint32_t tenant, uint32_t bytes);

  void AddLive(uint32_t tenant, uint32_t bytes);
  void RemoveLive(uint32_t tenant, uint32_t bytes);
  void AddDead(uint32_t tenant, uint32_t bytes);
  void RemoveDead(uint32_t tenant, uint32_t bytes);

  // All zero for a tenant never counted.
  TenantUsage Of(uint32_t tenant) const {
    return tenant < usage_.size() ? usage_[tenant] : TenantUsage{};
  }

 private:
  TenantUsage& At(uint32_t tenant) {
    if (tenant >= usage_.size()) usage_.resize(tenant + 1);
    return usage_[tenant];
  }

  std::vector<TenantUsage> usage_;  // by tenant id
  uint32_t limited_ = 0;            // tenants with a quota
};

}  // namespace sluice::core
