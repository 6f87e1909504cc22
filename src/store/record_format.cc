#include "store/record_format.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <type_traits>

namespace sluice::store {
namespace {

using core::AttemptOutcome;
using core::DeadReason;

template <typename T>
void PutFixed(std::string* out, T v) {
  static_assert(std::is_integral_v<T>);
  using U = std::make_unsigned_t<T>;
  U u = static_cast<U>(v);
  char buf[sizeof(T)];
  for (size_t i = 0; i < sizeof(T); ++i) {
    buf[i] = static_cast<char>(u & 0xff);
    u = static_cast<U>(u >> 8);
  }
  out->append(buf, sizeof(T));
}

void PutVarint32(std::string* out, uint32_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void PutStr(std::string* out, std::string_view s) {
  // Strings longer than 4 GiB cannot be stored; the engine bounds payloads far below that.
  PutVarint32(out, static_cast<uint32_t>(s.size()));
  out->append(s.data(), s.size());
}

// Bounds-checked cursor over an encoded value. Every getter returns false
// (and consumes nothing further) once the input is exhausted or malformed.
class Reader {
 public:
  explicit Reader(std::string_view in) : p_(in) {}

  template <typename T>
  bool Fixed(T* v) {
    static_assert(std::is_integral_v<T>);
    using U = std::make_unsigned_t<T>;
    if (p_.size() < sizeof(T)) return false;
    U u = 0;
    for (size_t i = 0; i < sizeof(T); ++i) {
      u = static_cast<U>(u | (static_cast<U>(static_cast<uint8_t>(p_[i])) << (8 * i)));
    }
    *v = static_cast<T>(u);
    p_.remove_prefix(sizeof(T));
    return true;
  }

  bool Varint32(uint32_t* v) {
    uint32_t result = 0;
    for (int shift = 0; shift <= 28; shift += 7) {
      if (p_.empty()) return false;
      uint8_t byte = static_cast<uint8_t>(p_[0]);
      p_.remove_prefix(1);
      if (shift == 28 && byte > 0x0f) return false;  // would overflow 32 bits
      result |= static_cast<uint32_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        *v = result;
        return true;
      }
    }
    return false;
  }

  bool Str(std::string_view* s) {
    uint32_t n = 0;
    if (!Varint32(&n) || p_.size() < n) return false;
    *s = p_.substr(0, n);
    p_.remove_prefix(n);
    return true;
  }

  bool Str(std::string* s) {
    std::string_view v;
    if (!Str(&v)) return false;
    s->assign(v.data(), v.size());
    return true;
  }

  // A count of items each at least `min_item_bytes` long; rejects counts the
  // remaining input cannot hold, so corrupt input never drives a huge reserve.
  bool Count(uint32_t* n, size_t min_item_bytes) {
    if (!Varint32(n)) return false;
    return static_cast<size_t>(*n) <= p_.size() / min_item_bytes;
  }

  std::string_view rest() const { return p_; }
  bool empty() const { return p_.empty(); }

 private:
  std::string_view p_;
};

Status Corrupt(std::string_view what) {
  return Status::Corruption("store record format: " + std::string(what));
}

// The stored values the enum lists define (core/task_enums.h).
#define SLUICE_VALUE_CASE(e, value, wire, name) case value:
bool ValidOutcome(uint8_t v) {
  switch (v) {
    SLUICE_ATTEMPT_OUTCOMES(SLUICE_VALUE_CASE)
    return true;
    default:
      return false;
  }
}

bool ValidReason(uint8_t v) {
  switch (v) {
    SLUICE_DEAD_REASONS(SLUICE_VALUE_CASE)
    return true;
    default:
      return false;
  }
}
#undef SLUICE_VALUE_CASE

// Version byte + summary part. Shared by the full and the summary decoder.
struct SummaryFields {
  uint8_t version = 0;
  uint64_t id = 0;
  uint8_t priority = 0;
  uint32_t attempts = 0;
  uint32_t max_attempts = 0;
  uint32_t cost = 0;
  int64_t enqueued_ms = 0;
  int64_t not_before_ms = 0;
  int64_t expires_ms = 0;
  std::string_view queue;
  std::string_view tenant;
  std::string_view batch_key;
};

Status ReadSummary(Reader* r, SummaryFields* f) {
  uint8_t& version = f->version;
  if (!r->Fixed(&version)) return Corrupt("empty task value");
  if (version == 0 || version > kTaskFormatVersion) {
    return Corrupt("task value has unknown format version " + std::to_string(version) +
                   " (written by a newer sluice?)");
  }
  if (!r->Fixed(&f->id) || !r->Fixed(&f->priority) || !r->Fixed(&f->attempts) ||
      !r->Fixed(&f->max_attempts) || !r->Fixed(&f->cost) || !r->Fixed(&f->enqueued_ms) ||
      !r->Fixed(&f->not_before_ms) || !r->Fixed(&f->expires_ms) || !r->Str(&f->queue) ||
      !r->Str(&f->tenant) || !r->Str(&f->batch_key)) {
    return Corrupt("truncated task summary");
  }
  if (f->priority >= core::kPriorityLevels) return Corrupt("task priority out of range");
  return Status::Ok();
}

void AppendTask(const core::TaskRecord& t, std::string* out) {
  out->push_back(static_cast<char>(kTaskFormatVersion));
  PutFixed<uint64_t>(out, t.id);
  PutFixed<uint8_t>(out, t.priority);
  PutFixed<uint32_t>(out, t.attempts);
  PutFixed<uint32_t>(out, t.max_attempts);
  PutFixed<uint32_t>(out, t.cost);
  PutFixed<int64_t>(out, t.enqueued_ms);
  PutFixed<int64_t>(out, t.not_before_ms);
  PutFixed<int64_t>(out, t.expires_ms);
  PutStr(out, t.queue);
  PutStr(out, t.tenant);
  PutStr(out, t.batch_key);
  PutFixed<uint32_t>(out, t.backoff_initial_ms);
  PutFixed<uint32_t>(out, t.backoff_max_ms);
  PutFixed<uint32_t>(out, t.lease_ms);
  PutStr(out, t.idempotency_key);
  PutStr(out, t.payload);
  PutStr(out, t.checkpoint);
  PutVarint32(out, static_cast<uint32_t>(t.headers.size()));
  for (const core::Header& h : t.headers) {
    PutStr(out, h.key);
    PutStr(out, h.value);
  }
  PutVarint32(out, static_cast<uint32_t>(t.history.size()));
  for (const core::AttemptRecord& a : t.history) {
    PutFixed<uint32_t>(out, a.attempt);
    PutStr(out, a.worker);
    PutFixed<int64_t>(out, a.started_ms);
    PutFixed<int64_t>(out, a.ended_ms);
    PutFixed<uint8_t>(out, static_cast<uint8_t>(a.outcome));
    PutStr(out, a.error);
  }
  PutVarint32(out, static_cast<uint32_t>(t.redrives.size()));
  for (const core::RedriveRecord& d : t.redrives) {
    PutFixed<uint32_t>(out, d.attempts);
    PutFixed<int64_t>(out, d.at_ms);
  }
}

}  // namespace

size_t EstimateEncodedTaskSize(const core::TaskRecord& t) {
  size_t n = 96 + t.queue.size() + t.tenant.size() + t.batch_key.size() + t.idempotency_key.size() +
             t.payload.size() + t.checkpoint.size();
  for (const core::Header& h : t.headers) n += 10 + h.key.size() + h.value.size();
  for (const core::AttemptRecord& a : t.history) n += 32 + a.worker.size() + a.error.size();
  n += 12 * t.redrives.size();
  return n;
}

void AppendTaskKey(core::TaskId id, std::string* out) {
  char buf[kTaskKeySize];
  for (size_t i = 0; i < kTaskKeySize; ++i) {
    buf[i] = static_cast<char>((id >> (8 * (kTaskKeySize - 1 - i))) & 0xff);
  }
  out->append(buf, kTaskKeySize);
}

std::string EncodeTaskKey(core::TaskId id) {
  std::string out;
  AppendTaskKey(id, &out);
  return out;
}

Status DecodeTaskKey(std::string_view key, core::TaskId* id) {
  if (key.size() != kTaskKeySize) return Corrupt("task key is not 8 bytes");
  uint64_t v = 0;
  for (size_t i = 0; i < kTaskKeySize; ++i) v = (v << 8) | static_cast<uint8_t>(key[i]);
  *id = v;
  return Status::Ok();
}

std::string EncodeJournalKey(core::TaskId id, std::string_view step) {
  std::string out;
  out.reserve(kTaskKeySize + step.size());
  AppendTaskKey(id, &out);
  out.append(step.data(), step.size());
  return out;
}

void EncodeTask(const core::TaskRecord& task, std::string* out) {
  out->clear();
  out->reserve(EstimateEncodedTaskSize(task));
  AppendTask(task, out);
}

Status DecodeTaskSummary(std::string_view value, core::TaskSummary* summary) {
  Reader r(value);
  SummaryFields f;
  SLUICE_RETURN_IF_ERROR(ReadSummary(&r, &f));
  summary->id = f.id;
  summary->queue = f.queue;
  summary->tenant = f.tenant;
  summary->batch_key = f.batch_key;
  summary->priority = f.priority;
  summary->attempts = f.attempts;
  summary->max_attempts = f.max_attempts;
  summary->enqueued_ms = f.enqueued_ms;
  summary->not_before_ms = f.not_before_ms;
  summary->expires_ms = f.expires_ms;
  summary->cost = f.cost;
  // core::StoredBytes from the lengths of the payload and the headers: each
  // is skipped, not copied.
  uint32_t u32 = 0;
  std::string_view skipped;
  std::string_view payload;
  if (!r.Fixed(&u32) || !r.Fixed(&u32) || !r.Fixed(&u32) || !r.Str(&skipped) ||
      !r.Str(&payload) || !r.Str(&skipped)) {
    return Corrupt("truncated task value");
  }
  uint32_t n = 0;
  if (!r.Count(&n, 2)) return Corrupt("bad task header count");
  uint64_t header_bytes = 0;
  for (uint32_t i = 0; i < n; ++i) {
    std::string_view key;
    std::string_view text;
    if (!r.Str(&key) || !r.Str(&text)) return Corrupt("truncated task header");
    header_bytes += key.size() + text.size();
  }
  summary->stored_bytes = core::StoredBytes(payload.size(), header_bytes);
  return Status::Ok();
}

Status DecodeTask(std::string_view value, core::TaskRecord* t) {
  Reader r(value);
  SummaryFields f;
  SLUICE_RETURN_IF_ERROR(ReadSummary(&r, &f));
  t->id = f.id;
  t->priority = f.priority;
  t->attempts = f.attempts;
  t->max_attempts = f.max_attempts;
  t->cost = f.cost;
  t->enqueued_ms = f.enqueued_ms;
  t->not_before_ms = f.not_before_ms;
  t->expires_ms = f.expires_ms;
  t->queue.assign(f.queue);
  t->tenant.assign(f.tenant);
  t->batch_key.assign(f.batch_key);
  if (!r.Fixed(&t->backoff_initial_ms) || !r.Fixed(&t->backoff_max_ms) || !r.Fixed(&t->lease_ms) ||
      !r.Str(&t->idempotency_key) || !r.Str(&t->payload) || !r.Str(&t->checkpoint)) {
    return Corrupt("truncated task value");
  }
  uint32_t n = 0;
  if (!r.Count(&n, 2)) return Corrupt("bad task header count");
  t->headers.clear();
  t->headers.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    core::Header h;
    if (!r.Str(&h.key) || !r.Str(&h.value)) return Corrupt("truncated task header");
    t->headers.push_back(std::move(h));
  }
  // Smallest attempt record: 4 + 1 + 8 + 8 + 1 + 1 bytes.
  if (!r.Count(&n, 23)) return Corrupt("bad task history count");
  t->history.clear();
  t->history.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    core::AttemptRecord a;
    uint8_t outcome = 0;
    if (!r.Fixed(&a.attempt) || !r.Str(&a.worker) || !r.Fixed(&a.started_ms) ||
        !r.Fixed(&a.ended_ms) || !r.Fixed(&outcome) || !r.Str(&a.error)) {
      return Corrupt("truncated task history");
    }
    if (!ValidOutcome(outcome)) return Corrupt("unknown attempt outcome");
    a.outcome = static_cast<AttemptOutcome>(outcome);
    t->history.push_back(std::move(a));
  }
  t->redrives.clear();
  if (f.version >= 2) {
    // Smallest redrive record: 4 + 8 bytes.
    if (!r.Count(&n, 12)) return Corrupt("bad task redrive count");
    t->redrives.reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
      core::RedriveRecord d;
      if (!r.Fixed(&d.attempts) || !r.Fixed(&d.at_ms)) return Corrupt("truncated task redrives");
      t->redrives.push_back(d);
    }
  } else {
    // Version 1 counted the current run only and kept no redrives: the
    // history's length is the life-wide count, and whatever it holds beyond
    // the run's count came before one redrive (time unknown).
    const uint32_t run = t->attempts;
    t->attempts = std::max(run, static_cast<uint32_t>(t->history.size()));
    if (t->attempts > run) t->redrives.push_back({t->attempts - run, 0});
  }
  if (!r.empty()) return Corrupt("trailing bytes after task value");
  return Status::Ok();
}

void EncodeDead(const core::DeadRecord& dead, std::string* out) {
  out->clear();
  out->reserve(10 + EstimateEncodedTaskSize(dead.task));
  out->push_back(static_cast<char>(kDeadFormatVersion));
  PutFixed<uint8_t>(out, static_cast<uint8_t>(dead.reason));
  PutFixed<int64_t>(out, dead.died_ms);
  AppendTask(dead.task, out);
}

Status DecodeDead(std::string_view value, core::DeadRecord* dead) {
  Reader r(value);
  uint8_t version = 0;
  if (!r.Fixed(&version)) return Corrupt("empty dead value");
  if (version == 0 || version > kDeadFormatVersion) {
    return Corrupt("dead value has unknown format version " + std::to_string(version) +
                   " (written by a newer sluice?)");
  }
  uint8_t reason = 0;
  if (!r.Fixed(&reason) || !r.Fixed(&dead->died_ms)) return Corrupt("truncated dead value");
  if (!ValidReason(reason)) return Corrupt("unknown dead reason");
  dead->reason = static_cast<DeadReason>(reason);
  return DecodeTask(r.rest(), &dead->task);
}

}  // namespace sluice::store
