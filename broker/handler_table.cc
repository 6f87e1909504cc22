// The table from body type to handler, and the one place a handler is
// declared and registered. HandlerOf names every member of the
// schema's Body union, with no default: a body added to schema/sluice.fbs
// without a line here fails to compile (-Wswitch, warnings are errors), so a
// new request cannot be left without a handler by accident.
#include <array>
#include <cstddef>

#include "broker/handlers.h"

namespace sluice::broker {

// The handlers (definitions in handlers_<who sends it>.cc).
void HandleEnqueue(const Request& r);
void HandleLease(const Request& r);
void HandleHeartbeat(const Request& r);
void HandleAck(const Request& r);
void HandleNack(const Request& r);
void HandleJournalPut(const Request& r);
void HandleJournalGet(const Request& r);
void HandleTaskShow(const Request& r);
void HandleDlqShow(const Request& r);
void HandleDlqList(const Request& r);
void HandleDlqRedrive(const Request& r);
void HandleDlqPurge(const Request& r);
void HandleStats(const Request& r);
void HandleTenantSet(const Request& r);
void HandleTenantList(const Request& r);
void HandleQueuePause(const Request& r);
void HandleQueueResume(const Request& r);

namespace {

constexpr Handler HandlerOf(fb::Body type) {
  switch (type) {
    // Requests.
    case fb::Body::Enqueue: return &HandleEnqueue;
    case fb::Body::Lease: return &HandleLease;
    case fb::Body::Heartbeat: return &HandleHeartbeat;
    case fb::Body::Ack: return &HandleAck;
    case fb::Body::Nack: return &HandleNack;
    case fb::Body::JournalPut: return &HandleJournalPut;
    case fb::Body::JournalGet: return &HandleJournalGet;
    case fb::Body::TaskShow: return &HandleTaskShow;
    case fb::Body::DlqList: return &HandleDlqList;
    case fb::Body::DlqShow: return &HandleDlqShow;
    case fb::Body::DlqRedrive: return &HandleDlqRedrive;
    case fb::Body::DlqPurge: return &HandleDlqPurge;
    case fb::Body::Stats: return &HandleStats;
    case fb::Body::TenantSet: return &HandleTenantSet;
    case fb::Body::TenantList: return &HandleTenantList;
    case fb::Body::QueuePause: return &HandleQueuePause;
    case fb::Body::QueueResume: return &HandleQueueResume;
    // Not requests: answers, and the handshake (the session handles Hello).
    case fb::Body::NONE:
    case fb::Body::Hello:
    case fb::Body::HelloOk:
    case fb::Body::Error:
    case fb::Body::EnqueueResult:
    case fb::Body::LeaseResult:
    case fb::Body::HeartbeatResult:
    case fb::Body::AckResult:
    case fb::Body::NackResult:
    case fb::Body::JournalPutResult:
    case fb::Body::JournalGetResult:
    case fb::Body::TaskInfo:
    case fb::Body::DlqListResult:
    case fb::Body::DlqRedriveResult:
    case fb::Body::DlqPurgeResult:
    case fb::Body::StatsResult:
    case fb::Body::TenantSetResult:
    case fb::Body::TenantListResult:
    case fb::Body::QueuePauseResult:
    case fb::Body::QueueResumeResult:
      return nullptr;
  }
  return nullptr;  // a value outside the enum (not reachable from a literal)
}

constexpr size_t kBodies = static_cast<size_t>(fb::Body::MAX) + 1;

constexpr std::array<Handler, kBodies> kHandlers = [] {
  std::array<Handler, kBodies> table{};
  for (size_t i = 0; i < kBodies; ++i) table[i] = HandlerOf(static_cast<fb::Body>(i));
  return table;
}();

}  // namespace

Handler HandlerFor(fb::Body type) {
  const auto i = static_cast<size_t>(type);
  return i < kBodies ? kHandlers[i] : nullptr;
}

}  // namespace sluice::broker
