#include "core/tenant_quotas.h"

#include <cassert>
#include <string>

namespace sluice::core {

namespace {

// `*v -= d`; never below zero (a broken invariant in a release build must not
// wrap to a usage that refuses every enqueue).
void Sub(uint64_t* v, uint64_t d) {
  assert(*v >= d);
  *v = *v >= d ? *v - d : 0;
}

}  // namespace

void TenantQuotas::SetQuotas(uint32_t tenant, uint64_t max_queued, uint64_t max_bytes) {
  const bool was = Limited(tenant);
  TenantUsage& u = At(tenant);
  u.max_queued = max_queued;
  u.max_bytes = max_bytes;
  const bool now = Limited(tenant);
  if (now && !was) ++limited_;
  if (was && !now) --limited_;
}

Status TenantQuotas::Reserve(uint32_t tenant, std::string_view name, uint32_t bytes) {
  TenantUsage& u = At(tenant);
  const std::string who = "tenant " + std::string(name);
  const uint64_t queued = u.queued + u.pending_queued;
  if (u.max_queued != 0 && queued + 1 > u.max_queued) {
    ++u.refused;
    return Status::ResourceExhausted(
        who + " is at its max_queued quota of " + std::to_string(u.max_queued) + " tasks (" +
        std::to_string(queued) +
        " queued: ready, delayed or leased): ack or purge some of its tasks, or raise the quota "
        "with sluicectl tenant set " +
        std::string(name) + " --max-queued N");
  }
  const uint64_t stored = u.bytes + u.pending_bytes;
  if (u.max_bytes != 0 && stored + bytes > u.max_bytes) {
    ++u.refused;
    return Status::ResourceExhausted(
        who + " is over its max_bytes quota of " + std::to_string(u.max_bytes) +
        " bytes: " + std::to_string(stored) +
        " stored (its live tasks and dead letters) and this task needs " + std::to_string(bytes) +
        " (payload and headers): ack or purge some of its tasks or dead letters, or raise the "
        "quota with sluicectl tenant set " +
        std::string(name) + " --max-bytes N");
  }
  ++u.pending_queued;
  u.pending_bytes += bytes;
  return Status::Ok();
}

void TenantQuotas::Unreserve(uint32_t tenant, uint32_t bytes) {
  TenantUsage& u = At(tenant);
  Sub(&u.pending_queued, 1);
  Sub(&u.pending_bytes, bytes);
}

void TenantQuotas::AddLive(uint32_t tenant, uint32_t bytes) {
  TenantUsage& u = At(tenant);
  ++u.queued;
  u.bytes += bytes;
}

void TenantQuotas::RemoveLive(uint32_t tenant, uint32_t bytes) {
  TenantUsage& u = At(tenant);
  Sub(&u.queued, 1);
  Sub(&u.bytes, bytes);
}

void TenantQuotas::AddDead(uint32_t tenant, uint32_t bytes) { At(tenant).bytes += bytes; }

void TenantQuotas::RemoveDead(uint32_t tenant, uint32_t bytes) { Sub(&At(tenant).bytes, bytes); }

}  // namespace sluice::core
