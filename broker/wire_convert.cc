#include "broker/wire_convert.h"

namespace sluice::broker {
namespace {

flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::Header>>> BuildHeaders(
    FbBuilder& fbb, const std::vector<core::Header>& headers) {
  std::vector<flatbuffers::Offset<fb::Header>> out;
  out.reserve(headers.size());
  for (const auto& h : headers) {
    out.push_back(fb::CreateHeader(fbb, fbb.CreateString(h.key), fbb.CreateString(h.value)));
  }
  return fbb.CreateVector(out);
}

flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::JournalEntry>>> BuildJournal(
    FbBuilder& fbb, const std::vector<std::pair<std::string, std::string>>& journal) {
  std::vector<flatbuffers::Offset<fb::JournalEntry>> out;
  out.reserve(journal.size());
  for (const auto& [step, value] : journal) {
    out.push_back(fb::CreateJournalEntry(
        fbb, fbb.CreateString(step),
        fbb.CreateVector(reinterpret_cast<const uint8_t*>(value.data()), value.size())));
  }
  return fbb.CreateVector(out);
}

flatbuffers::Offset<flatbuffers::Vector<uint8_t>> BuildBytes(FbBuilder& fbb,
                                                             const std::string& s) {
  return fbb.CreateVector(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

uint64_t U64(TimeMs t) { return t < 0 ? 0 : static_cast<uint64_t>(t); }

}  // namespace

std::string Str(const flatbuffers::String* s) { return s ? s->str() : std::string(); }

std::string Bytes(const flatbuffers::Vector<uint8_t>* v) {
  return v ? std::string(reinterpret_cast<const char*>(v->data()), v->size()) : std::string();
}

core::EnqueueSpec FromWire(const fb::TaskSpec& s) {
  core::EnqueueSpec spec;
  spec.queue = Str(s.queue());
  if (s.tenant() != nullptr && s.tenant()->size() > 0) spec.tenant = s.tenant()->str();
  // has_priority says whether the client chose one (0 included). Without it
  // (a client from before the field, or a raw client that left priority
  // out) a non-zero priority is taken as chosen, and an absent one means the
  // broker's default_priority (docs/protocol.md, TaskSpec).
  if (s.has_priority() || s.priority() != 0) spec.priority = s.priority();
  spec.payload = Bytes(s.payload());
  if (s.headers() != nullptr) {
    for (const auto* h : *s.headers()) {
      if (h != nullptr) spec.headers.push_back({Str(h->key()), Str(h->value())});
    }
  }
  spec.max_attempts = s.max_attempts();
  spec.backoff_initial_ms = s.backoff_initial_ms();
  spec.backoff_max_ms = s.backoff_max_ms();
  spec.lease_ms = s.lease_ms();
  spec.delay_ms = s.delay_ms();
  spec.ttl_ms = s.ttl_ms();
  spec.batch_key = Str(s.batch_key());
  spec.cost = s.cost() == 0 ? 1 : s.cost();
  spec.idempotency_key = Str(s.idempotency_key());
  return spec;
}

core::LeaseToken FromWire(const fb::LeaseToken& t) {
  return core::LeaseToken{t.task_id(), t.attempt(), t.epoch()};
}

fb::LeaseToken ToWire(const core::LeaseToken& t) {
  return fb::LeaseToken(t.task_id, t.lease_seq, t.epoch);
}

core::DeadFilter FromWire(const fb::DlqFilter* f) {
  core::DeadFilter filter;
  if (f == nullptr) return filter;
  filter.queue = Str(f->queue());
  filter.tenant = Str(f->tenant());
  filter.error_contains = Str(f->error_contains());
  if (f->has_reason()) filter.reason = static_cast<core::DeadReason>(f->reason());
  return filter;
}

bool FilterIsEmpty(const core::DeadFilter& f) {
  return f.ids.empty() && f.queue.empty() && f.tenant.empty() && !f.reason &&
         f.error_contains.empty();
}

fb::DeadReason ToWire(core::DeadReason r) {
  switch (r) {
#define SLUICE_WIRE_CASE(e, value, wire, name) \
  case core::DeadReason::e:                    \
    return fb::DeadReason::wire;
    SLUICE_DEAD_REASONS(SLUICE_WIRE_CASE)
#undef SLUICE_WIRE_CASE
  }
  return fb::DeadReason::NONE;
}

fb::TaskState ToWire(core::TaskState s) {
  switch (s) {
    case core::TaskState::kDelayed: return fb::TaskState::DELAYED;
    case core::TaskState::kReady: return fb::TaskState::READY;
    case core::TaskState::kLeased: return fb::TaskState::LEASED;
    case core::TaskState::kDead: return fb::TaskState::DEAD;
  }
  return fb::TaskState::UNKNOWN;
}

fb::AttemptOutcome ToWire(core::AttemptOutcome o) {
  switch (o) {
#define SLUICE_WIRE_CASE(e, value, wire, name) \
  case core::AttemptOutcome::e:                \
    return fb::AttemptOutcome::wire;
    SLUICE_ATTEMPT_OUTCOMES(SLUICE_WIRE_CASE)
#undef SLUICE_WIRE_CASE
  }
  return fb::AttemptOutcome::RUNNING;
}

fb::RateUnit ToWire(core::RateUnit u) {
  switch (u) {
    case core::RateUnit::kTasks: return fb::RateUnit::Tasks;
    case core::RateUnit::kCost: return fb::RateUnit::Cost;
  }
  return fb::RateUnit::Tasks;
}

std::optional<core::RateUnit> FromWire(fb::RateUnit u) {
  switch (u) {
    case fb::RateUnit::Tasks: return core::RateUnit::kTasks;
    case fb::RateUnit::Cost: return core::RateUnit::kCost;
  }
  return std::nullopt;
}

Result<core::RateUnit> KnownRateUnit(fb::RateUnit unit, const char* whose) {
  if (auto known = FromWire(unit)) return *known;
  return Status::InvalidArgument(std::string(whose) + " rate_unit " +
                                 std::to_string(static_cast<int>(unit)) +
                                 " is unknown to this broker; use Tasks (0) or Cost (1)");
}

flatbuffers::Offset<fb::LeasedTask> BuildLeasedTask(FbBuilder& fbb, const core::LeasedTask& t) {
  const auto queue = fbb.CreateString(t.queue);
  const auto tenant = fbb.CreateString(t.tenant);
  const auto payload = BuildBytes(fbb, t.payload);
  const auto headers = BuildHeaders(fbb, t.headers);
  const auto checkpoint = t.checkpoint.empty() ? 0 : BuildBytes(fbb, t.checkpoint);
  const auto journal = BuildJournal(fbb, t.journal);
  const auto batch_key = fbb.CreateString(t.batch_key);
  const fb::LeaseToken token = ToWire(t.token);
  fb::LeasedTaskBuilder b(fbb);
  b.add_id(t.id);
  b.add_queue(queue);
  b.add_tenant(tenant);
  b.add_priority(t.priority);
  b.add_attempt(t.attempt);
  b.add_token(&token);
  b.add_payload(payload);
  b.add_headers(headers);
  if (!t.checkpoint.empty()) b.add_checkpoint(checkpoint);
  b.add_journal(journal);
  b.add_enqueued_ms(U64(t.enqueued_ms));
  b.add_batch_key(batch_key);
  b.add_cost(t.cost);
  b.add_deadline_ms(U64(t.deadline_ms));
  b.add_max_attempts(t.max_attempts);
  b.add_run_attempt(t.run_attempt);
  return b.Finish();
}

flatbuffers::Offset<fb::TaskInfo> BuildTaskInfo(
    FbBuilder& fbb, const core::TaskView& view,
    const std::optional<std::vector<std::pair<std::string, std::string>>>& journal) {
  const core::TaskRecord& r = view.record;
  std::vector<flatbuffers::Offset<fb::AttemptInfo>> attempts;
  for (const auto& a : r.history) {
    attempts.push_back(fb::CreateAttemptInfo(
        fbb, a.attempt, fbb.CreateString(a.worker), U64(a.started_ms), U64(a.ended_ms),
        ToWire(a.outcome), fbb.CreateString(a.error), core::RunOf(r, a.attempt)));
  }
  const bool leased = view.state == core::TaskState::kLeased;
  const bool running = leased && view.token.has_value();
  if (running) {
    attempts.push_back(fb::CreateAttemptInfo(
        fbb, view.token->lease_seq, fbb.CreateString(view.worker), U64(view.lease_started_ms), 0,
        fb::AttemptOutcome::RUNNING, 0, core::RunOf(r, view.token->lease_seq)));
  }
  const auto attempts_vec = fbb.CreateVector(attempts);
  std::vector<flatbuffers::Offset<fb::RedriveInfo>> redrives;
  for (const core::RedriveRecord& d : r.redrives) {
    redrives.push_back(fb::CreateRedriveInfo(fbb, d.attempts, U64(d.at_ms)));
  }
  const auto redrives_vec = fbb.CreateVector(redrives);
  const auto queue = fbb.CreateString(r.queue);
  const auto tenant = fbb.CreateString(r.tenant);
  const auto payload = BuildBytes(fbb, r.payload);
  const auto headers = BuildHeaders(fbb, r.headers);
  const auto batch_key = fbb.CreateString(r.batch_key);
  const auto idem = fbb.CreateString(r.idempotency_key);
  const auto checkpoint = BuildBytes(fbb, r.checkpoint);
  const auto journal_vec = journal ? BuildJournal(fbb, *journal) : 0;
  fb::TaskInfoBuilder b(fbb);
  b.add_id(r.id);
  b.add_state(ToWire(view.state));
  b.add_queue(queue);
  b.add_tenant(tenant);
  b.add_priority(r.priority);
  b.add_payload(payload);
  b.add_headers(headers);
  b.add_max_attempts(r.max_attempts);
  // Life-wide, the running attempt included (core/task.h).
  b.add_attempt(r.attempts + (leased ? 1 : 0));
  b.add_run(core::CurrentRun(r));
  b.add_run_attempts(core::RunAttempts(r) + (leased ? 1 : 0));
  b.add_redrives(redrives_vec);
  b.add_backoff_initial_ms(r.backoff_initial_ms);
  b.add_backoff_max_ms(r.backoff_max_ms);
  b.add_lease_ms(r.lease_ms);
  b.add_enqueued_ms(U64(r.enqueued_ms));
  b.add_not_before_ms(U64(r.not_before_ms));
  b.add_expires_ms(U64(r.expires_ms));
  b.add_batch_key(batch_key);
  b.add_cost(r.cost);
  b.add_idempotency_key(idem);
  b.add_checkpoint(checkpoint);
  if (leased) b.add_lease_deadline_ms(U64(view.lease_deadline_ms));
  if (view.dead_reason) {
    b.add_dead_reason(ToWire(*view.dead_reason));
    b.add_dead_ms(U64(view.died_ms));
  }
  b.add_attempts(attempts_vec);
  if (journal) b.add_journal(journal_vec);
  b.add_journal_included(journal.has_value());
  return b.Finish();
}

flatbuffers::Offset<fb::DlqEntry> BuildDlqEntry(FbBuilder& fbb, const core::DeadRecord& d) {
  const core::TaskRecord& r = d.task;
  const std::string last_error = r.history.empty() ? std::string() : r.history.back().error;
  return fb::CreateDlqEntry(fbb, r.id, fbb.CreateString(r.queue), fbb.CreateString(r.tenant),
                            ToWire(d.reason), r.attempts, fbb.CreateString(last_error),
                            U64(r.enqueued_ms), U64(d.died_ms));
}

flatbuffers::Offset<fb::TenantConfig> BuildTenantConfig(FbBuilder& fbb, const std::string& name,
                                                        const core::Limits& l) {
  return fb::CreateTenantConfig(fbb, fbb.CreateString(name), l.weight, l.rate_per_s,
                                static_cast<uint32_t>(l.burst), l.max_inflight,
                                ToWire(l.rate_unit), l.max_queued, l.max_bytes);
}

flatbuffers::Offset<fb::TenantStats> BuildTenantStats(FbBuilder& fbb, const core::TenantView& t) {
  return fb::CreateTenantStats(fbb, fbb.CreateString(t.name), t.limits.weight,
                               t.limits.rate_per_s, static_cast<uint32_t>(t.limits.burst),
                               t.limits.max_inflight, t.ready, t.inflight, t.throttled_ms,
                               t.dispatched_last_minute, ToWire(t.limits.rate_unit),
                               t.limits.max_queued, t.limits.max_bytes, t.queued, t.stored_bytes,
                               t.quota_refused);
}

flatbuffers::Offset<fb::QueueStats> BuildQueueStats(FbBuilder& fbb, const core::QueueStats& q) {
  return fb::CreateQueueStats(fbb, fbb.CreateString(q.name), q.ready, q.delayed, q.leased,
                              q.dead, q.paused, q.limits.rate_per_s,
                              static_cast<uint32_t>(q.limits.burst), q.limits.max_inflight,
                              ToWire(q.limits.rate_unit));
}

}  // namespace sluice::broker
