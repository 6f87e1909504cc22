#include "client/wire_convert.h"

namespace sluice::client::convert {

flatbuffers::Offset<flatbuffers::Vector<uint8_t>> WriteBytes(flatbuffers::FlatBufferBuilder& fbb,
                                                             std::string_view bytes) {
  return fbb.CreateVector(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

flatbuffers::Offset<fb::TaskSpec> WriteTaskSpec(flatbuffers::FlatBufferBuilder& fbb,
                                                const TaskSpec& task) {
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<fb::Header>>> headers = 0;
  if (!task.headers.empty()) {
    std::vector<flatbuffers::Offset<fb::Header>> hs;
    hs.reserve(task.headers.size());
    for (const Header& h : task.headers) {
      hs.push_back(fb::CreateHeader(fbb, fbb.CreateString(h.key), fbb.CreateString(h.value)));
    }
    headers = fbb.CreateVector(hs);
  }
  const auto queue = fbb.CreateString(task.queue);
  const auto tenant = task.tenant.empty() ? 0 : fbb.CreateString(task.tenant);
  const auto payload = WriteBytes(fbb, task.payload);
  const auto batch_key = task.batch_key.empty() ? 0 : fbb.CreateString(task.batch_key);
  const auto idem = task.idempotency_key.empty() ? 0 : fbb.CreateString(task.idempotency_key);
  return fb::CreateTaskSpec(fbb, queue, tenant, task.priority.value_or(0), payload, headers,
                            task.max_attempts, task.backoff.initial_ms, task.backoff.max_ms,
                            task.lease_ms, task.delay_ms, task.ttl_ms, batch_key, task.cost, idem,
                            task.priority.has_value());
}

flatbuffers::Offset<fb::DlqFilter> WriteDlqFilter(flatbuffers::FlatBufferBuilder& fbb,
                                                  const DlqFilter& filter) {
  const auto queue = filter.queue.empty() ? 0 : fbb.CreateString(filter.queue);
  const auto tenant = filter.tenant.empty() ? 0 : fbb.CreateString(filter.tenant);
  const auto error = filter.error_contains.empty() ? 0 : fbb.CreateString(filter.error_contains);
  return fb::CreateDlqFilter(fbb, queue, tenant,
                             static_cast<fb::DeadReason>(filter.reason.value_or(DeadReason::kNone)),
                             filter.reason.has_value(), error);
}

fb::LeaseToken ToWire(const LeaseToken& token) {
  return fb::LeaseToken(token.task_id, token.attempt, token.epoch);
}

std::string ReadString(const flatbuffers::String* s) { return s ? s->str() : std::string(); }

std::string ReadBytes(const flatbuffers::Vector<uint8_t>* v) {
  if (v == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(v->data()), v->size());
}

LeaseToken FromWire(const fb::LeaseToken* token) {
  if (token == nullptr) return {};
  return {token->task_id(), token->attempt(), token->epoch()};
}

std::vector<Header> ReadHeaders(
    const flatbuffers::Vector<flatbuffers::Offset<fb::Header>>* headers) {
  std::vector<Header> out;
  if (headers == nullptr) return out;
  out.reserve(headers->size());
  for (const fb::Header* h : *headers)
    out.push_back({ReadString(h->key()), ReadString(h->value())});
  return out;
}

std::vector<JournalEntry> ReadJournal(
    const flatbuffers::Vector<flatbuffers::Offset<fb::JournalEntry>>* journal) {
  std::vector<JournalEntry> out;
  if (journal == nullptr) return out;
  out.reserve(journal->size());
  for (const fb::JournalEntry* e : *journal) {
    out.push_back({ReadString(e->step()), ReadBytes(e->value())});
  }
  return out;
}

LeasedTask ReadLeasedTask(const fb::LeasedTask& t) {
  LeasedTask out;
  out.id = t.id();
  out.queue = ReadString(t.queue());
  out.tenant = ReadString(t.tenant());
  out.priority = t.priority();
  out.attempt = t.attempt();
  out.token = FromWire(t.token());
  out.payload = ReadBytes(t.payload());
  out.headers = ReadHeaders(t.headers());
  if (t.checkpoint() != nullptr) out.checkpoint = ReadBytes(t.checkpoint());
  out.journal = ReadJournal(t.journal());
  out.enqueued_ms = t.enqueued_ms();
  out.batch_key = ReadString(t.batch_key());
  out.cost = t.cost();
  out.deadline_ms = t.deadline_ms();
  out.max_attempts = t.max_attempts();
  out.run_attempt = t.run_attempt() != 0 ? t.run_attempt() : t.attempt();
  return out;
}

TaskInfo ReadTaskInfo(const fb::TaskInfo& t) {
  TaskInfo out;
  out.id = t.id();
  out.state = static_cast<TaskState>(t.state());
  out.queue = ReadString(t.queue());
  out.tenant = ReadString(t.tenant());
  out.priority = t.priority();
  out.payload = ReadBytes(t.payload());
  out.headers = ReadHeaders(t.headers());
  out.max_attempts = t.max_attempts();
  out.attempt = t.attempt();
  out.backoff = {t.backoff_initial_ms(), t.backoff_max_ms()};
  out.lease_ms = t.lease_ms();
  out.enqueued_ms = t.enqueued_ms();
  out.not_before_ms = t.not_before_ms();
  out.expires_ms = t.expires_ms();
  out.batch_key = ReadString(t.batch_key());
  out.cost = t.cost();
  out.idempotency_key = ReadString(t.idempotency_key());
  if (t.checkpoint() != nullptr) out.checkpoint = ReadBytes(t.checkpoint());
  out.lease_deadline_ms = t.lease_deadline_ms();
  out.dead_reason = static_cast<DeadReason>(t.dead_reason());
  out.dead_ms = t.dead_ms();
  if (t.attempts() != nullptr) {
    for (const fb::AttemptInfo* a : *t.attempts()) {
      out.attempts.push_back({a->attempt(), ReadString(a->worker()), a->started_ms(), a->ended_ms(),
                              static_cast<AttemptOutcome>(a->outcome()), ReadString(a->error()),
                              a->run()});
    }
  }
  out.journal = ReadJournal(t.journal());
  out.journal_included = t.journal_included();
  out.run = t.run();
  out.run_attempts = t.run_attempts();
  if (t.redrives() != nullptr) {
    for (const fb::RedriveInfo* d : *t.redrives()) {
      out.redrives.push_back({d->attempts(), d->redriven_ms()});
    }
  }
  return out;
}

DlqEntry ReadDlqEntry(const fb::DlqEntry& e) {
  return {e.id(),
          ReadString(e.queue()),
          ReadString(e.tenant()),
          static_cast<DeadReason>(e.reason()),
          e.attempts(),
          ReadString(e.last_error()),
          e.enqueued_ms(),
          e.dead_ms()};
}

QueueStats ReadQueueStats(const fb::QueueStats& q) {
  return {ReadString(q.name()), q.ready(),  q.delayed(),      q.leased(),
          q.dead(),             q.paused(), q.rate(),         q.burst(),
          q.max_inflight(),     static_cast<RateUnit>(q.rate_unit())};
}

TenantStats ReadTenantStats(const fb::TenantStats& t) {
  return {ReadString(t.name()),      t.weight(),       t.rate(),     t.burst(),
          t.max_inflight(),          t.ready(),        t.inflight(), t.throttled_ms(),
          t.dispatched_last_minute(), static_cast<RateUnit>(t.rate_unit()),
          t.max_queued(),            t.max_bytes(),    t.queued(),   t.stored_bytes(),
          t.quota_refused()};
}

TenantConfig ReadTenantConfig(const fb::TenantConfig& t) {
  return {ReadString(t.name()), t.weight(),       t.rate(),
          t.burst(),            t.max_inflight(), static_cast<RateUnit>(t.rate_unit()),
          t.max_queued(),       t.max_bytes()};
}

std::vector<std::string> ReadStrings(
    const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>* v) {
  std::vector<std::string> out;
  if (v == nullptr) return out;
  out.reserve(v->size());
  for (const flatbuffers::String* s : *v) out.push_back(ReadString(s));
  return out;
}

LeasedBatch ReadLeasedBatch(const fb::BatchLeaseResult& r) {
  LeasedBatch out;
  out.id = r.batch_id();
  out.queue = ReadString(r.queue());
  out.batch_key = ReadString(r.batch_key());
  out.deadline_ms = r.deadline_ms();
  out.cost = r.cost();
  if (r.tasks() != nullptr) {
    out.tasks.reserve(r.tasks()->size());
    for (const fb::LeasedTask* t : *r.tasks()) out.tasks.push_back(ReadLeasedTask(*t));
  }
  return out;
}

BatchList ReadBatchList(const fb::BatchListResult& r) {
  BatchList out;
  if (r.workers() != nullptr) {
    for (const fb::BatchWorkerInfo* w : *r.workers()) {
      BatchWorkerInfo i;
      i.id = w->id();
      i.worker = ReadString(w->worker());
      i.queue = ReadString(w->queue());
      i.batch_keys = ReadStrings(w->batch_keys());
      i.slots = w->slots();
      i.busy = w->busy();
      i.polling = w->polling();
      i.max_tasks = w->max_tasks();
      i.max_cost = w->max_cost();
      i.max_wait_ms = w->max_wait_ms();
      i.registered_ms = w->registered_ms();
      i.batches_total = w->batches_total();
      i.tasks_total = w->tasks_total();
      out.workers.push_back(std::move(i));
    }
  }
  if (r.batches() != nullptr) {
    for (const fb::BatchInfo* b : *r.batches()) {
      out.batches.push_back(BatchInfo{b->id(), b->worker_id(), ReadString(b->queue()),
                                      ReadString(b->batch_key()), b->tasks(), b->tasks_held(),
                                      b->cost(), b->started_ms(), b->deadline_ms()});
    }
  }
  if (r.streams() != nullptr) {
    for (const fb::BatchStreamInfo* s : *r.streams()) {
      out.streams.push_back(BatchStreamInfo{ReadString(s->queue()), ReadString(s->batch_key()),
                                            s->ready(), s->ready_cost(), s->held(),
                                            s->max_held_cost(), s->oldest_ready_ms(),
                                            s->workers()});
    }
  }
  return out;
}

CredentialInfo ReadCredential(const fb::CredentialInfo& c) {
  return CredentialInfo{ReadString(c.name()),      ReadString(c.tenant()),
                        ReadString(c.roles()),     ReadStrings(c.queues()),
                        c.created_ms(),            c.source() != nullptr ? c.source()->str() : "stored"};
}

std::vector<LeaseHolderInfo> ReadLeaseHolders(const fb::WorkerListResult& r) {
  std::vector<LeaseHolderInfo> out;
  if (r.holders() == nullptr) return out;
  for (const fb::LeaseHolderInfo* h : *r.holders()) {
    out.push_back(LeaseHolderInfo{ReadString(h->worker()), ReadString(h->address()),
                                  ReadStrings(h->queues()), h->tasks(), h->oldest_lease_ms(),
                                  h->last_heartbeat_ms(), h->next_deadline_ms()});
  }
  return out;
}

}  // namespace sluice::client::convert
