// AuditTrail: the loop thread's side of the audit log (docs/security.md,
// "Audit log"). It turns requests into records (audit_ops.h), hands their
// lines to the AuditWriter, and holds each audited reply until its line is
// durable.
//
// A native request the Dispatcher audits is answered through Hold(): the
// handler replies as usual (broker/reply.h) to a stand-in peer, which reads
// the outcome from the answer, submits the line, and sends the answer to
// the real connection once the writer reports the line synced. So every
// answer a client receives to an audited request has its line on disk; an
// answer whose connection closed meanwhile still leaves its line.
//
// Failure mode (fail-closed): while the writer is failing (healthy() false)
// the Dispatcher and the dashboard refuse kChange requests before running
// them, with Unwritable(): UNAVAILABLE naming the log (that refusal is
// itself submitted, best effort: it is how a recovered log is noticed at
// once). If a line fails after its operation was performed (the disk filled
// in between), the answer is replaced by UNAVAILABLE saying the operation
// WAS performed and its line is owed: it is written, late, when the log
// works again (audit_writer.h). Refusals (PERMISSION_DENIED, ...) are sent
// as they are, whether or not their line could be written.
//
// Threading: the loop thread; the writer's completions are posted there.
// The writer must outlive the trail.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "broker/audit_record.h"
#include "broker/audit_writer.h"
#include "common/clock.h"
#include "net/peer.h"

namespace sluice::broker {

class AuditTrail {
 public:
  AuditTrail(AuditWriter& writer, const Clock& clock) : writer_(writer), clock_(clock) {}
  AuditTrail(const AuditTrail&) = delete;
  AuditTrail& operator=(const AuditTrail&) = delete;

  bool healthy() const { return writer_.healthy(); }
  // The refusal of an admin operation while the log is failing.
  Status Unwritable() const;
  // `record` stamped with the clock's time (ts_ms).
  AuditRecord Stamp(AuditRecord record) const;

  // A peer to reply to `real`'s request through (broker/reply.h holds it
  // weakly; the trail holds it until it answers). Its answer completes
  // `record` (outcome, result), and goes to `real` once the line is synced.
  std::weak_ptr<net::Peer> Hold(const std::shared_ptr<net::Peer>& real, AuditRecord record);

  // Writes `record` (outcome filled); `done` (loop thread) gets OK once it
  // is synced, or UNAVAILABLE.
  void Write(const AuditRecord& record, std::function<void(Status)> done);

  // Audited answers not sent yet (their lines in flight).
  size_t held() const { return held_.size(); }
  const AuditWriter& writer() const { return writer_; }

 private:
  class HeldPeer;
  void Release(const HeldPeer* peer);

  AuditWriter& writer_;
  const Clock& clock_;
  std::unordered_map<const HeldPeer*, std::shared_ptr<HeldPeer>> held_;
};

}  // namespace sluice::broker
