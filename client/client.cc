#include "client/client.h"

#include <utility>

#include "client/connection.h"
#include "client/wire_convert.h"
#include "wire/host_port.h"

namespace sluice::client {

namespace fb = wire::fb;
using convert::ReadString;

namespace {

using Builder = flatbuffers::FlatBufferBuilder;

template <typename Body>
flatbuffers::DetachedBuffer Finish(Builder& fbb, uint64_t id, flatbuffers::Offset<Body> body) {
  wire::FinishFrame(fbb, fb::CreateFrame(fbb, id, fb::BodyTraits<Body>::enum_value, body.Union()));
  return fbb.Release();
}

Status Unexpected(const fb::Frame& frame, fb::Body want) {
  return Status::Protocol(std::string("broker answered with ") +
                          fb::EnumNameBody(frame.body_type()) + " where " + fb::EnumNameBody(want) +
                          " was expected; is the broker a newer version?");
}

// Sends `frame` and turns the response into Result<T> with `parse`, a
// callable (const R&) -> Result<T> for the expected response body R.
template <typename R, typename T, typename Parse>
void Call(Client::Impl& impl, uint64_t id, flatbuffers::DetachedBuffer frame,
          std::chrono::milliseconds extra, Parse parse, Client::Callback<T> done) {
  impl.Submit(
      id, std::move(frame), extra,
      [parse = std::move(parse), done = std::move(done)](const Status& s, const fb::Frame* f) {
        if (!s.ok()) {
          done(s);
          return;
        }
        const R* body = f->body_type() == fb::BodyTraits<R>::enum_value
                            ? static_cast<const R*>(f->body())
                            : nullptr;
        if (body == nullptr) {
          done(Unexpected(*f, fb::BodyTraits<R>::enum_value));
          return;
        }
        done(parse(*body));
      });
}

// Runs `start(callback)` and blocks until the callback delivered the result.
template <typename T, typename Start>
Result<T> Await(Start start) {
  auto promise = std::make_shared<std::promise<Result<T>>>();
  auto future = promise->get_future();
  start([promise](Result<T> r) { promise->set_value(std::move(r)); });
  return future.get();
}

template <typename T, typename Start>
std::future<Result<T>> AsFuture(Start start) {
  auto promise = std::make_shared<std::promise<Result<T>>>();
  auto future = promise->get_future();
  start([promise](Result<T> r) { promise->set_value(std::move(r)); });
  return future;
}

struct Empty {};

Status ToStatus(const Result<Empty>& r) { return r.status(); }

constexpr std::chrono::milliseconds kNoExtra{0};

}  // namespace

Status ParseBrokerAddress(std::string_view host_port, ClientOptions* options) {
  auto parsed = wire::ParseHostPort(host_port, "broker address");
  if (!parsed.ok()) return parsed.status();
  options->host = std::move(parsed->host);
  options->port = parsed->port;
  return Status::Ok();
}

Client::Client(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Client::~Client() {
  if (impl_) impl_->Close();
}

Result<std::unique_ptr<Client>> Client::Connect(ClientOptions options) {
  auto impl = std::make_shared<Impl>(std::move(options));
  SLUICE_RETURN_IF_ERROR(impl->Start());
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

void Client::Close() { impl_->Close(); }
bool Client::connected() const { return impl_->connected(); }
ServerInfo Client::server_info() const { return impl_->server_info(); }
const ClientOptions& Client::options() const { return impl_->options(); }
void Client::SetAddress(std::string host, uint16_t port) {
  impl_->SetAddress(std::move(host), port);
}

// ---------------------------------------------------------------- producer

void Client::EnqueueManyAsync(std::span<const TaskSpec> tasks, Callback<ManyResult> done) {
  const uint64_t id = impl_->NextRequestId();
  Builder fbb(256 + tasks.size() * 64);
  std::vector<flatbuffers::Offset<fb::TaskSpec>> specs;
  specs.reserve(tasks.size());
  for (const TaskSpec& t : tasks) specs.push_back(convert::WriteTaskSpec(fbb, t));
  auto body = fb::CreateEnqueue(fbb, fbb.CreateVector(specs));
  const size_t want = tasks.size();
  Call<fb::EnqueueResult, ManyResult>(
      *impl_, id, Finish(fbb, id, body), kNoExtra,
      [want](const fb::EnqueueResult& r) -> Result<ManyResult> {
        if (r.results() == nullptr || r.results()->size() != want) {
          return Status::Protocol("broker answered " +
                                  std::to_string(r.results() ? r.results()->size() : 0) +
                                  " enqueue results for " + std::to_string(want) + " tasks");
        }
        ManyResult out;
        out.reserve(want);
        for (const fb::EnqueueItemResult* item : *r.results()) {
          if (item->code() == fb::ErrorCode::OK) {
            out.emplace_back(EnqueueResult{item->id(), item->duplicate()});
          } else {
            out.emplace_back(Status(wire::FromWire(item->code()), ReadString(item->message())));
          }
        }
        return out;
      },
      std::move(done));
}

std::future<Result<Client::ManyResult>> Client::EnqueueManyAsync(std::span<const TaskSpec> tasks) {
  return AsFuture<ManyResult>([&](auto cb) { EnqueueManyAsync(tasks, std::move(cb)); });
}

Result<Client::ManyResult> Client::EnqueueMany(std::span<const TaskSpec> tasks) {
  return Await<ManyResult>([&](auto cb) { EnqueueManyAsync(tasks, std::move(cb)); });
}

void Client::EnqueueAsync(const TaskSpec& task, Callback<EnqueueResult> done) {
  EnqueueManyAsync(std::span<const TaskSpec>(&task, 1),
                   [done = std::move(done)](Result<ManyResult> r) {
                     if (!r.ok()) {
                       done(r.status());
                     } else {
                       done(std::move((*r)[0]));
                     }
                   });
}

std::future<Result<EnqueueResult>> Client::EnqueueAsync(const TaskSpec& task) {
  return AsFuture<EnqueueResult>([&](auto cb) { EnqueueAsync(task, std::move(cb)); });
}

Result<EnqueueResult> Client::Enqueue(const TaskSpec& task) {
  return Await<EnqueueResult>([&](auto cb) { EnqueueAsync(task, std::move(cb)); });
}

// ---------------------------------------------------------------- worker

void Client::LeaseAsync(std::string_view queue, uint32_t max_tasks, uint32_t wait_ms,
                        uint32_t lease_ms, std::string_view worker,
                        Callback<std::vector<LeasedTask>> done) {
  const uint64_t id = impl_->NextRequestId();
  Builder fbb(256);
  auto body = fb::CreateLease(fbb, fbb.CreateString(queue.data(), queue.size()), max_tasks, wait_ms,
                              lease_ms,
                              worker.empty() ? 0 : fbb.CreateString(worker.data(), worker.size()));
  Call<fb::LeaseResult, std::vector<LeasedTask>>(
      *impl_, id, Finish(fbb, id, body), std::chrono::milliseconds(wait_ms),
      [](const fb::LeaseResult& r) -> Result<std::vector<LeasedTask>> {
        std::vector<LeasedTask> out;
        if (r.tasks() != nullptr) {
          out.reserve(r.tasks()->size());
          for (const fb::LeasedTask* t : *r.tasks()) out.push_back(convert::ReadLeasedTask(*t));
        }
        return out;
      },
      std::move(done));
}

Result<std::vector<LeasedTask>> Client::Lease(std::string_view queue, uint32_t max_tasks,
                                              uint32_t wait_ms, uint32_t lease_ms,
                                              std::string_view worker) {
  return Await<std::vector<LeasedTask>>(
      [&](auto cb) { LeaseAsync(queue, max_tasks, wait_ms, lease_ms, worker, std::move(cb)); });
}

void Client::HeartbeatAsync(const LeaseToken& token, uint32_t extend_ms,
                            std::optional<std::string_view> checkpoint, Callback<uint64_t> done) {
  const uint64_t id = impl_->NextRequestId();
  Builder fbb(128 + (checkpoint ? checkpoint->size() : 0));
  const auto cp = checkpoint ? convert::WriteBytes(fbb, *checkpoint) : 0;
  const fb::LeaseToken wt = convert::ToWire(token);
  auto body = fb::CreateHeartbeat(fbb, &wt, extend_ms, cp);
  Call<fb::HeartbeatResult, uint64_t>(
      *impl_, id, Finish(fbb, id, body), kNoExtra,
      [](const fb::HeartbeatResult& r) -> Result<uint64_t> { return r.deadline_ms(); },
      std::move(done));
}

Result<uint64_t> Client::Heartbeat(const LeaseToken& token, uint32_t extend_ms,
                                   std::optional<std::string_view> checkpoint) {
  return Await<uint64_t>(
      [&](auto cb) { HeartbeatAsync(token, extend_ms, checkpoint, std::move(cb)); });
}

void Client::AckAsync(std::span<const LeaseToken> tokens, Callback<std::vector<Status>> done) {
  const uint64_t id = impl_->NextRequestId();
  Builder fbb(64 + tokens.size() * 16);
  std::vector<fb::LeaseToken> wts;
  wts.reserve(tokens.size());
  for (const LeaseToken& t : tokens) wts.push_back(convert::ToWire(t));
  auto body = fb::CreateAck(fbb, fbb.CreateVectorOfStructs(wts));
  const size_t want = tokens.size();
  Call<fb::AckResult, std::vector<Status>>(
      *impl_, id, Finish(fbb, id, body), kNoExtra,
      [want](const fb::AckResult& r) -> Result<std::vector<Status>> {
        if (r.codes() == nullptr || r.codes()->size() != want) {
          return Status::Protocol("broker answered " +
                                  std::to_string(r.codes() ? r.codes()->size() : 0) +
                                  " ack codes for " + std::to_string(want) + " tokens");
        }
        std::vector<Status> out;
        out.reserve(want);
        for (auto code : *r.codes()) {
          const Code c = wire::FromWire(static_cast<fb::ErrorCode>(code));
          if (c == Code::kOk) {
            out.emplace_back();
          } else if (c == Code::kStaleLease) {
            out.emplace_back(c,
                             "lease is no longer current (expired, superseded, or the task is a"
                             " dead letter); the task may run elsewhere: drop this work");
          } else if (c == Code::kNotFound) {
            out.emplace_back(c,
                             "the task is gone (acked already, purged, or never enqueued):"
                             " drop this work");
          } else {
            out.emplace_back(c, std::string("ack refused: ") + std::string(CodeName(c)));
          }
        }
        return out;
      },
      std::move(done));
}

Result<std::vector<Status>> Client::Ack(std::span<const LeaseToken> tokens) {
  return Await<std::vector<Status>>([&](auto cb) { AckAsync(tokens, std::move(cb)); });
}

Status Client::Ack(const LeaseToken& token) {
  auto r = Ack(std::span<const LeaseToken>(&token, 1));
  if (!r.ok()) return r.status();
  return (*r)[0];
}

void Client::NackAsync(const LeaseToken& token, std::string_view error, bool fatal,
                       std::optional<uint32_t> delay_ms, Callback<NackResult> done) {
  const uint64_t id = impl_->NextRequestId();
  Builder fbb(128 + error.size());
  const fb::LeaseToken wt = convert::ToWire(token);
  auto body = fb::CreateNack(fbb, &wt, fbb.CreateString(error.data(), error.size()), fatal,
                             delay_ms.value_or(0), delay_ms.has_value());
  Call<fb::NackResult, NackResult>(
      *impl_, id, Finish(fbb, id, body), kNoExtra,
      [](const fb::NackResult& r) -> Result<NackResult> {
        return NackResult{r.dead(), r.next_attempt_ms()};
      },
      std::move(done));
}

Result<NackResult> Client::Nack(const LeaseToken& token, std::string_view error, bool fatal,
                                std::optional<uint32_t> delay_ms) {
  return Await<NackResult>(
      [&](auto cb) { NackAsync(token, error, fatal, delay_ms, std::move(cb)); });
}

Status Client::JournalPut(const LeaseToken& token, std::string_view step, std::string_view value) {
  return ToStatus(Await<Empty>([&](auto cb) {
    const uint64_t id = impl_->NextRequestId();
    Builder fbb(128 + step.size() + value.size());
    const fb::LeaseToken wt = convert::ToWire(token);
    auto body = fb::CreateJournalPut(fbb, &wt, fbb.CreateString(step.data(), step.size()),
                                     convert::WriteBytes(fbb, value));
    Call<fb::JournalPutResult, Empty>(
        *impl_, id, Finish(fbb, id, body), kNoExtra,
        [](const fb::JournalPutResult&) -> Result<Empty> { return Empty{}; }, std::move(cb));
  }));
}

Result<std::vector<JournalEntry>> Client::JournalGet(const LeaseToken& token,
                                                     std::optional<std::string_view> step) {
  return Await<std::vector<JournalEntry>>([&](auto cb) {
    const uint64_t id = impl_->NextRequestId();
    Builder fbb(128);
    const fb::LeaseToken wt = convert::ToWire(token);
    auto body =
        fb::CreateJournalGet(fbb, &wt, step ? fbb.CreateString(step->data(), step->size()) : 0);
    Call<fb::JournalGetResult, std::vector<JournalEntry>>(
        *impl_, id, Finish(fbb, id, body), kNoExtra,
        [](const fb::JournalGetResult& r) -> Result<std::vector<JournalEntry>> {
          return convert::ReadJournal(r.entries());
        },
        std::move(cb));
  });
}

// ---------------------------------------------------------------- batches

Result<uint64_t> Client::BatchRegister(const BatchRegistration& reg) {
  return Await<uint64_t>([&](auto cb) {
    const uint64_t id = impl_->NextRequestId();
    Builder fbb(256 + reg.batch_keys.size() * 32);
    const auto keys = fbb.CreateVectorOfStrings(reg.batch_keys);
    auto body = fb::CreateBatchRegister(fbb, fbb.CreateString(reg.queue), keys, reg.slots,
                                        reg.max_tasks, reg.max_cost, reg.max_wait_ms,
                                        reg.lease_ms,
                                        reg.worker.empty() ? 0 : fbb.CreateString(reg.worker));
    Call<fb::BatchRegisterResult, uint64_t>(
        *impl_, id, Finish(fbb, id, body), kNoExtra,
        [](const fb::BatchRegisterResult& r) -> Result<uint64_t> {
          if (r.worker_id() == 0) {
            return Status::Protocol("BatchRegisterResult without a worker id");
          }
          return r.worker_id();
        },
        std::move(cb));
  });
}

void Client::BatchLeaseAsync(uint64_t worker_id, uint32_t wait_ms, Callback<LeasedBatch> done) {
  const uint64_t id = impl_->NextRequestId();
  Builder fbb(64);
  auto body = fb::CreateBatchLease(fbb, worker_id, wait_ms);
  Call<fb::BatchLeaseResult, LeasedBatch>(
      *impl_, id, Finish(fbb, id, body), std::chrono::milliseconds(wait_ms),
      [](const fb::BatchLeaseResult& r) -> Result<LeasedBatch> {
        return convert::ReadLeasedBatch(r);
      },
      std::move(done));
}

Result<LeasedBatch> Client::BatchLease(uint64_t worker_id, uint32_t wait_ms) {
  return Await<LeasedBatch>([&](auto cb) { BatchLeaseAsync(worker_id, wait_ms, std::move(cb)); });
}

void Client::BatchHeartbeatAsync(uint64_t worker_id, uint64_t batch_id, uint32_t extend_ms,
                                 Callback<BatchHeartbeatResult> done) {
  const uint64_t id = impl_->NextRequestId();
  Builder fbb(64);
  auto body = fb::CreateBatchHeartbeat(fbb, worker_id, batch_id, extend_ms);
  Call<fb::BatchHeartbeatResult, BatchHeartbeatResult>(
      *impl_, id, Finish(fbb, id, body), kNoExtra,
      [](const fb::BatchHeartbeatResult& r) -> Result<BatchHeartbeatResult> {
        return BatchHeartbeatResult{r.deadline_ms(), r.tasks_held()};
      },
      std::move(done));
}

Result<BatchHeartbeatResult> Client::BatchHeartbeat(uint64_t worker_id, uint64_t batch_id,
                                                    uint32_t extend_ms) {
  return Await<BatchHeartbeatResult>(
      [&](auto cb) { BatchHeartbeatAsync(worker_id, batch_id, extend_ms, std::move(cb)); });
}

Result<BatchList> Client::ListBatches() {
  return Await<BatchList>([&](auto cb) {
    const uint64_t id = impl_->NextRequestId();
    Builder fbb(64);
    auto body = fb::CreateBatchList(fbb);
    Call<fb::BatchListResult, BatchList>(
        *impl_, id, Finish(fbb, id, body), kNoExtra,
        [](const fb::BatchListResult& r) -> Result<BatchList> {
          return convert::ReadBatchList(r);
        },
        std::move(cb));
  });
}

Result<std::vector<LeaseHolderInfo>> Client::ListLeaseHolders() {
  return Await<std::vector<LeaseHolderInfo>>([&](auto cb) {
    const uint64_t id = impl_->NextRequestId();
    Builder fbb(64);
    auto body = fb::CreateWorkerList(fbb);
    Call<fb::WorkerListResult, std::vector<LeaseHolderInfo>>(
        *impl_, id, Finish(fbb, id, body), kNoExtra,
        [](const fb::WorkerListResult& r) -> Result<std::vector<LeaseHolderInfo>> {
          return convert::ReadLeaseHolders(r);
        },
        std::move(cb));
  });
}

// ---------------------------------------------------------------- credentials

Result<NewCredential> Client::AuthAdd(std::string_view name, std::string_view tenant,
                                      std::string_view roles,
                                      const std::vector<std::string>& queues) {
  return Await<NewCredential>([&](auto cb) {
    const uint64_t id = impl_->NextRequestId();
    Builder fbb(256);
    auto body = fb::CreateAuthAdd(fbb, fbb.CreateString(name.data(), name.size()),
                                  fbb.CreateString(tenant.data(), tenant.size()),
                                  fbb.CreateString(roles.data(), roles.size()),
                                  fbb.CreateVectorOfStrings(queues));
    Call<fb::AuthAddResult, NewCredential>(
        *impl_, id, Finish(fbb, id, body), kNoExtra,
        [](const fb::AuthAddResult& r) -> Result<NewCredential> {
          if (r.credential() == nullptr || r.token() == nullptr) {
            return Status::Protocol("AuthAddResult without its token or credential");
          }
          return NewCredential{r.token()->str(), convert::ReadCredential(*r.credential())};
        },
        std::move(cb));
  });
}

Result<std::vector<CredentialInfo>> Client::AuthList() {
  return Await<std::vector<CredentialInfo>>([&](auto cb) {
    const uint64_t id = impl_->NextRequestId();
    Builder fbb(64);
    auto body = fb::CreateAuthList(fbb);
    Call<fb::AuthListResult, std::vector<CredentialInfo>>(
        *impl_, id, Finish(fbb, id, body), kNoExtra,
        [](const fb::AuthListResult& r) -> Result<std::vector<CredentialInfo>> {
          std::vector<CredentialInfo> out;
          if (r.credentials() != nullptr) {
            for (const fb::CredentialInfo* c : *r.credentials()) {
              out.push_back(convert::ReadCredential(*c));
            }
          }
          return out;
        },
        std::move(cb));
  });
}

Status Client::AuthRevoke(std::string_view name) {
  return ToStatus(Await<Empty>([&](auto cb) {
    const uint64_t id = impl_->NextRequestId();
    Builder fbb(128);
    auto body = fb::CreateAuthRevoke(fbb, fbb.CreateString(name.data(), name.size()));
    Call<fb::AuthRevokeResult, Empty>(
        *impl_, id, Finish(fbb, id, body), kNoExtra,
        [](const fb::AuthRevokeResult&) -> Result<Empty> { return Empty{}; }, std::move(cb));
  }));
}

// ---------------------------------------------------------------- admin

namespace {

Result<TaskInfo> ParseTaskInfo(const fb::TaskInfo& t) { return convert::ReadTaskInfo(t); }

}  // namespace

Result<TaskInfo> Client::TaskShow(TaskId task_id, bool include_journal) {
  return Await<TaskInfo>([&](auto cb) {
    const uint64_t id = impl_->NextRequestId();
    Builder fbb(64);
    auto body = fb::CreateTaskShow(fbb, task_id, include_journal);
    Call<fb::TaskInfo, TaskInfo>(*impl_, id, Finish(fbb, id, body), kNoExtra, ParseTaskInfo,
                                 std::move(cb));
  });
}

Result<TaskInfo> Client::DlqShow(TaskId task_id) {
  return Await<TaskInfo>([&](auto cb) {
    const uint64_t id = impl_->NextRequestId();
    Builder fbb(64);
    auto body = fb::CreateDlqShow(fbb, task_id);
    Call<fb::TaskInfo, TaskInfo>(*impl_, id, Finish(fbb, id, body), kNoExtra, ParseTaskInfo,
                                 std::move(cb));
  });
}

Result<DlqPage> Client::DlqList(const DlqFilter& filter, uint64_t after_id, uint32_t limit) {
  return Await<DlqPage>([&](auto cb) {
    const uint64_t id = impl_->NextRequestId();
    Builder fbb(256);
    auto body = fb::CreateDlqList(fbb, convert::WriteDlqFilter(fbb, filter), after_id, limit);
    Call<fb::DlqListResult, DlqPage>(
        *impl_, id, Finish(fbb, id, body), kNoExtra,
        [](const fb::DlqListResult& r) -> Result<DlqPage> {
          DlqPage page;
          if (r.entries() != nullptr) {
            for (const fb::DlqEntry* e : *r.entries()) {
              page.entries.push_back(convert::ReadDlqEntry(*e));
            }
          }
          page.next_after_id = r.next_after_id();
          page.has_more = r.has_more();
          return page;
        },
        std::move(cb));
  });
}

Result<uint64_t> Client::DlqRedrive(const DlqSelection& selection) {
  return Await<uint64_t>([&](auto cb) {
    const uint64_t id = impl_->NextRequestId();
    Builder fbb(256 + selection.ids.size() * 8);
    const auto ids = selection.ids.empty() ? 0 : fbb.CreateVector(selection.ids);
    auto body = fb::CreateDlqRedrive(fbb, ids, convert::WriteDlqFilter(fbb, selection.filter),
                                     selection.limit, selection.all);
    Call<fb::DlqRedriveResult, uint64_t>(
        *impl_, id, Finish(fbb, id, body), kNoExtra,
        [](const fb::DlqRedriveResult& r) -> Result<uint64_t> { return r.count(); }, std::move(cb));
  });
}

Result<uint64_t> Client::DlqPurge(const DlqSelection& selection) {
  return Await<uint64_t>([&](auto cb) {
    const uint64_t id = impl_->NextRequestId();
    Builder fbb(256 + selection.ids.size() * 8);
    const auto ids = selection.ids.empty() ? 0 : fbb.CreateVector(selection.ids);
    auto body = fb::CreateDlqPurge(fbb, ids, convert::WriteDlqFilter(fbb, selection.filter),
                                   selection.limit, selection.all);
    Call<fb::DlqPurgeResult, uint64_t>(
        *impl_, id, Finish(fbb, id, body), kNoExtra,
        [](const fb::DlqPurgeResult& r) -> Result<uint64_t> { return r.count(); }, std::move(cb));
  });
}

Result<StatsSnapshot> Client::Stats(std::string_view queue) {
  return Await<StatsSnapshot>([&](auto cb) {
    const uint64_t id = impl_->NextRequestId();
    Builder fbb(128);
    auto body =
        fb::CreateStats(fbb, queue.empty() ? 0 : fbb.CreateString(queue.data(), queue.size()));
    Call<fb::StatsResult, StatsSnapshot>(
        *impl_, id, Finish(fbb, id, body), kNoExtra,
        [](const fb::StatsResult& r) -> Result<StatsSnapshot> {
          StatsSnapshot out;
          if (r.queues() != nullptr) {
            for (const fb::QueueStats* q : *r.queues()) {
              out.queues.push_back(convert::ReadQueueStats(*q));
            }
          }
          if (r.tenants() != nullptr) {
            for (const fb::TenantStats* t : *r.tenants()) {
              out.tenants.push_back(convert::ReadTenantStats(*t));
            }
          }
          return out;
        },
        std::move(cb));
  });
}

Result<TenantConfig> Client::TenantSet(const TenantUpdate& update) {
  return Await<TenantConfig>([&](auto cb) {
    const uint64_t id = impl_->NextRequestId();
    Builder fbb(128);
    auto body = fb::CreateTenantSet(
        fbb, fbb.CreateString(update.name), update.weight.value_or(0), update.weight.has_value(),
        update.rate.value_or(0), update.rate.has_value(), update.burst.value_or(0),
        update.burst.has_value(), update.max_inflight.value_or(0), update.max_inflight.has_value(),
        static_cast<fb::RateUnit>(update.rate_unit.value_or(RateUnit::kTasks)),
        update.rate_unit.has_value(), update.max_queued.value_or(0),
        update.max_queued.has_value(), update.max_bytes.value_or(0),
        update.max_bytes.has_value());
    Call<fb::TenantSetResult, TenantConfig>(
        *impl_, id, Finish(fbb, id, body), kNoExtra,
        [](const fb::TenantSetResult& r) -> Result<TenantConfig> {
          if (r.tenant() == nullptr) return Status::Protocol("TenantSetResult without a tenant");
          return convert::ReadTenantConfig(*r.tenant());
        },
        std::move(cb));
  });
}

Result<std::vector<TenantConfig>> Client::TenantList() {
  return Await<std::vector<TenantConfig>>([&](auto cb) {
    const uint64_t id = impl_->NextRequestId();
    Builder fbb(64);
    auto body = fb::CreateTenantList(fbb);
    Call<fb::TenantListResult, std::vector<TenantConfig>>(
        *impl_, id, Finish(fbb, id, body), kNoExtra,
        [](const fb::TenantListResult& r) -> Result<std::vector<TenantConfig>> {
          std::vector<TenantConfig> out;
          if (r.tenants() != nullptr) {
            for (const fb::TenantConfig* t : *r.tenants()) {
              out.push_back(convert::ReadTenantConfig(*t));
            }
          }
          return out;
        },
        std::move(cb));
  });
}

Status Client::QueuePause(std::string_view queue, bool create) {
  return ToStatus(Await<Empty>([&](auto cb) {
    const uint64_t id = impl_->NextRequestId();
    Builder fbb(128);
    auto body = fb::CreateQueuePause(fbb, fbb.CreateString(queue.data(), queue.size()), create);
    Call<fb::QueuePauseResult, Empty>(
        *impl_, id, Finish(fbb, id, body), kNoExtra,
        [](const fb::QueuePauseResult&) -> Result<Empty> { return Empty{}; }, std::move(cb));
  }));
}

Status Client::QueueResume(std::string_view queue, bool create) {
  return ToStatus(Await<Empty>([&](auto cb) {
    const uint64_t id = impl_->NextRequestId();
    Builder fbb(128);
    auto body = fb::CreateQueueResume(fbb, fbb.CreateString(queue.data(), queue.size()), create);
    Call<fb::QueueResumeResult, Empty>(
        *impl_, id, Finish(fbb, id, body), kNoExtra,
        [](const fb::QueueResumeResult&) -> Result<Empty> { return Empty{}; }, std::move(cb));
  }));
}

// ------------------------------------------------------ operator control

Result<CancelOutcome> Client::TaskCancel(TaskId id) {
  return Await<CancelOutcome>([&](auto cb) {
    const uint64_t rid = impl_->NextRequestId();
    Builder fbb(64);
    auto body = fb::CreateTaskCancel(fbb, id);
    Call<fb::TaskCancelResult, CancelOutcome>(
        *impl_, rid, Finish(fbb, rid, body), kNoExtra,
        [](const fb::TaskCancelResult& r) -> Result<CancelOutcome> {
          return static_cast<CancelOutcome>(r.outcome());
        },
        std::move(cb));
  });
}

Status Client::TaskSetPriority(TaskId id, uint8_t priority) {
  return ToStatus(Await<Empty>([&](auto cb) {
    const uint64_t rid = impl_->NextRequestId();
    Builder fbb(64);
    auto body = fb::CreateTaskSetPriority(fbb, id, priority);
    Call<fb::TaskSetPriorityResult, Empty>(
        *impl_, rid, Finish(fbb, rid, body), kNoExtra,
        [](const fb::TaskSetPriorityResult&) -> Result<Empty> { return Empty{}; }, std::move(cb));
  }));
}

Result<TaskListPage> Client::TaskList(const TaskListQuery& q) {
  return Await<TaskListPage>([&](auto cb) {
    const uint64_t rid = impl_->NextRequestId();
    Builder fbb(256);
    auto body = fb::CreateTaskList(
        fbb, fbb.CreateString(q.queue),
        static_cast<fb::TaskState>(q.state.value_or(TaskState::kUnknown)),
        fbb.CreateString(q.tenant), q.after_id, q.after_priority.value_or(0),
        q.after_priority.has_value(), q.limit);
    Call<fb::TaskListResult, TaskListPage>(
        *impl_, rid, Finish(fbb, rid, body), kNoExtra,
        [](const fb::TaskListResult& r) -> Result<TaskListPage> {
          TaskListPage page;
          page.has_more = r.has_more();
          page.next_after_id = r.next_after_id();
          page.next_after_priority = r.next_after_priority();
          if (r.tasks() != nullptr) {
            for (const fb::TaskListEntry* t : *r.tasks()) {
              page.tasks.push_back(TaskListEntry{
                  t->id(), static_cast<TaskState>(t->state()), ReadString(t->tenant()),
                  t->priority(), t->attempts(), t->cost(), ReadString(t->batch_key()),
                  t->payload_bytes(), t->enqueued_ms(), t->not_before_ms(),
                  ReadString(t->worker()), t->lease_deadline_ms()});
            }
          }
          return page;
        },
        std::move(cb));
  });
}

Result<uint64_t> Client::QueuePurge(std::string_view queue, std::string_view tenant) {
  return Await<uint64_t>([&](auto cb) {
    const uint64_t rid = impl_->NextRequestId();
    Builder fbb(128);
    auto body = fb::CreateQueuePurge(fbb, fbb.CreateString(queue.data(), queue.size()),
                                     fbb.CreateString(tenant.data(), tenant.size()));
    Call<fb::QueuePurgeResult, uint64_t>(
        *impl_, rid, Finish(fbb, rid, body), kNoExtra,
        [](const fb::QueuePurgeResult& r) -> Result<uint64_t> { return r.purged(); },
        std::move(cb));
  });
}

Result<QueueDeleteResult> Client::QueueDelete(std::string_view queue, bool force) {
  return Await<QueueDeleteResult>([&](auto cb) {
    const uint64_t rid = impl_->NextRequestId();
    Builder fbb(128);
    auto body = fb::CreateQueueDelete(fbb, fbb.CreateString(queue.data(), queue.size()), force);
    Call<fb::QueueDeleteResult, QueueDeleteResult>(
        *impl_, rid, Finish(fbb, rid, body), kNoExtra,
        [](const fb::QueueDeleteResult& r) -> Result<QueueDeleteResult> {
          return QueueDeleteResult{r.tasks(), r.dead_letters()};
        },
        std::move(cb));
  });
}

Result<QueueConfig> Client::QueueSet(const QueueUpdate& u) {
  return Await<QueueConfig>([&](auto cb) {
    const uint64_t rid = impl_->NextRequestId();
    Builder fbb(128);
    auto body = fb::CreateQueueSet(
        fbb, fbb.CreateString(u.name), u.rate.value_or(0), u.rate.has_value(),
        u.burst.value_or(0), u.burst.has_value(), u.max_inflight.value_or(0),
        u.max_inflight.has_value(), static_cast<fb::RateUnit>(u.rate_unit.value_or(RateUnit::kTasks)),
        u.rate_unit.has_value(), u.create);
    Call<fb::QueueSetResult, QueueConfig>(
        *impl_, rid, Finish(fbb, rid, body), kNoExtra,
        [](const fb::QueueSetResult& r) -> Result<QueueConfig> {
          if (r.queue() == nullptr) return Status::Protocol("QueueSetResult without its queue");
          const fb::QueueConfig& q = *r.queue();
          return QueueConfig{ReadString(q.name()), q.rate(), q.burst(), q.max_inflight(),
                             static_cast<RateUnit>(q.rate_unit())};
        },
        std::move(cb));
  });
}

}  // namespace sluice::client
