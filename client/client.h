// sluice::client::Client: a connection to one sluiced broker over the native
// protocol (docs/protocol.md).
//
//   auto client = Client::Connect({.host = "127.0.0.1", .port = 7400});
//   if (!client.ok()) { ... client.status() ... }
//   auto id = (*client)->Enqueue({.queue = "jobs", .payload = "hello"});
//
// Threads: every Client has one background I/O thread that owns its socket:
// its own, or one it shares with other Clients (ClientOptions::io_thread).
// All methods are thread-safe and may be called from any number of threads at
// once; requests are pipelined on the one connection with request ids and their
// responses are matched out of order, so a long-polled Lease never blocks other
// calls. Sync methods block the calling thread until the response, an error, or
// the request timeout.
//
// Async callbacks run on the client's I/O thread (on the calling thread when the
// client is closed or the request is refused before sending): they must be quick
// and must not call a *sync* method of the same client (that would deadlock: the
// thread that would deliver the answer is the one waiting). Calling async methods from
// a callback is fine. Every callback is called exactly once, also when the
// client is closed (then with kUnavailable).
//
// Errors: sluice::Status whose codes are the wire ErrorCodes 1:1 (see
// src/common/status.h). Client-side failures use:
//   kUnavailable      not connected / connection lost / request timed out /
//                     client closed. A request that was written before the
//                     connection dropped may or may not have been applied.
//   kProtocol         the broker answered with a frame the client cannot use.
//   kInvalidArgument  a request the client refuses to send (e.g. over the
//                     broker's max frame size).
//
// Reconnect: when the connection drops, every request in flight fails with
// kUnavailable. The next request reconnects (and says Hello again); attempts are
// spaced with exponential backoff from reconnect.initial_backoff doubling up to
// reconnect.max_backoff; requests waiting for the connection fail with
// kUnavailable when their request timeout passes.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "client/types.h"
#include "common/status.h"
#include "wire/protocol_defaults.h"

namespace sluice::client {

class IoThread;  // client/connection.h

// Starts a background I/O thread that any number of Clients can share
// (ClientOptions::io_thread): one thread reads and writes all their sockets and
// runs all their callbacks, instead of a thread per Client. Fewer threads
// competing for the cores when a process holds many connections; the cost is
// that the Clients' callbacks run one at a time. The thread ends when the
// last Client using it has closed and the returned pointer is gone.
std::shared_ptr<IoThread> StartIoThread();

struct ReconnectOptions {
  std::chrono::milliseconds initial_backoff{50};
  std::chrono::milliseconds max_backoff{2000};
};

// TLS to a broker with [tls] set (docs/security.md). TLS 1.2 or 1.3; the
// broker's certificate must chain to a CA of ca_file and name server_name
// (an IP address as an IP subjectAltName, a host name as a DNS one).
struct TlsOptions {
  bool enabled = false;
  std::string ca_file;    // PEM CAs; empty = the system's trust store
  std::string cert_file;  // with key_file: the client certificate, for a broker with mTLS
  std::string key_file;   // its unencrypted PEM key
  // Checked against the certificate, and sent as SNI when a host name;
  // empty = ClientOptions::host (the address connected to).
  std::string server_name;
};

struct ClientOptions {
  std::string host = wire::kDefaultHost;  // where sluiced listens by default
  uint16_t port = wire::kDefaultPort;
  std::string client_name = "sluice-client";  // shown in broker logs
  std::string token;                          // auth token when the broker has auth on
  // One TCP connect + Hello attempt.
  std::chrono::milliseconds connect_timeout{5000};
  // Per request, from the call until its response. A Lease waits wait_ms on top.
  std::chrono::milliseconds request_timeout{30000};
  ReconnectOptions reconnect;
  // Off by default: plaintext. With tls.enabled, Connect() fails with
  // kInvalidArgument naming a file it cannot use, and a handshake that fails
  // (untrusted or misnamed broker certificate, a plaintext broker, a client
  // certificate the broker refuses) fails the connect with kUnavailable and
  // the reason. Requests on a TLS connection are written by the I/O thread
  // (no direct send from the calling thread: docs/performance.md).
  TlsOptions tls;
  // The I/O thread to share (StartIoThread()); null: the Client starts its own.
  // On a shared thread, callbacks of one Client must not call a sync method or
  // Close() of any Client on that thread.
  std::shared_ptr<IoThread> io_thread;
};

// Parses "HOST:PORT" (or "[V6ADDR]:PORT") into options->host / port.
// kInvalidArgument with a message naming the expected form otherwise.
Status ParseBrokerAddress(std::string_view host_port, ClientOptions* options);

class Client {
 public:
  template <typename T>
  using Callback = std::function<void(Result<T>)>;
  using StatusCallback = std::function<void(Status)>;

  // Connects and performs the Hello handshake (one attempt, bounded by
  // connect_timeout). Errors: kUnavailable (cannot connect / timeout),
  // kUnauthenticated (token refused), kProtocol (version refused), ...
  static Result<std::unique_ptr<Client>> Connect(ClientOptions options);

  // Closes the connection; outstanding requests fail with kUnavailable first.
  // Returns once no callback of this client runs or is queued any more (and
  // its own I/O thread, if it has one, is joined). Must not be called from a
  // callback of this client (or of any client sharing its I/O thread).
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Same as the destructor's shutdown, idempotent; later calls fail with
  // kUnavailable. Must not be called from a callback of this client.
  void Close();

  // True while the connection is up (a hint: it may drop right after).
  bool connected() const;
  // What the broker said in its last HelloOk.
  ServerInfo server_info() const;
  const ClientOptions& options() const;

  // Points later connects at another broker address (e.g. the broker came back
  // on another port). The current connection, if any, stays until it drops.
  void SetAddress(std::string host, uint16_t port);

  // ------------------------------------------------------------- producer

  // Enqueues one task; durable on the broker before the reply.
  Result<EnqueueResult> Enqueue(const TaskSpec& task);
  void EnqueueAsync(const TaskSpec& task, Callback<EnqueueResult> done);
  std::future<Result<EnqueueResult>> EnqueueAsync(const TaskSpec& task);

  // Enqueues many tasks in one frame. The outer Result fails when the request
  // as a whole failed (nothing or an unknown part enqueued); otherwise one
  // Result per task, same order (a task may fail alone, e.g. invalid).
  using ManyResult = std::vector<Result<EnqueueResult>>;
  Result<ManyResult> EnqueueMany(std::span<const TaskSpec> tasks);
  void EnqueueManyAsync(std::span<const TaskSpec> tasks, Callback<ManyResult> done);
  std::future<Result<ManyResult>> EnqueueManyAsync(std::span<const TaskSpec> tasks);

  // ------------------------------------------------------------- worker

  // Leases up to max_tasks (0 = 1) tasks of `queue`. Long poll: answered as soon
  // as at least one task is leased, or with an empty vector after wait_ms.
  // lease_ms 0 = each task's own lease_ms. `worker` names the lessee in the
  // task history.
  Result<std::vector<LeasedTask>> Lease(std::string_view queue, uint32_t max_tasks,
                                        uint32_t wait_ms, uint32_t lease_ms = 0,
                                        std::string_view worker = {});
  void LeaseAsync(std::string_view queue, uint32_t max_tasks, uint32_t wait_ms, uint32_t lease_ms,
                  std::string_view worker, Callback<std::vector<LeasedTask>> done);

  // Extends a lease: new deadline = now + extend_ms (0 = the task's lease_ms).
  // A checkpoint, when given, replaces the task's checkpoint (durable before the
  // reply) and is handed to the next attempt. Returns the new deadline (epoch
  // ms). kStaleLease: the lease is gone; stop working on the task.
  Result<uint64_t> Heartbeat(const LeaseToken& token, uint32_t extend_ms = 0,
                             std::optional<std::string_view> checkpoint = std::nullopt);
  void HeartbeatAsync(const LeaseToken& token, uint32_t extend_ms,
                      std::optional<std::string_view> checkpoint, Callback<uint64_t> done);

  // Acks tasks as done (durable before the reply). The outer Result fails when
  // the request failed; otherwise one Status per token, same order (kStaleLease
  // for a token that is no longer current: that ack changed nothing;
  // kNotFound when the task is gone: acked, purged or never enqueued).
  // Every request that carries a token answers these two the same way: drop
  // the attempt's work in both cases.
  Result<std::vector<Status>> Ack(std::span<const LeaseToken> tokens);
  // One token: the per-token status folded into one.
  Status Ack(const LeaseToken& token);
  void AckAsync(std::span<const LeaseToken> tokens, Callback<std::vector<Status>> done);

  // Reports a failed attempt. fatal: straight to the dead-letter set. delay_ms,
  // when given, replaces the retry backoff for this retry.
  Result<NackResult> Nack(const LeaseToken& token, std::string_view error, bool fatal = false,
                          std::optional<uint32_t> delay_ms = std::nullopt);
  void NackAsync(const LeaseToken& token, std::string_view error, bool fatal,
                 std::optional<uint32_t> delay_ms, Callback<NackResult> done);

  // Effect journal: records `value` under `step` for the task (durable before
  // the reply); every later attempt sees it in LeasedTask::journal.
  Status JournalPut(const LeaseToken& token, std::string_view step, std::string_view value);
  // The task's journal entries; only `step` when given (empty vector if absent).
  // Needs the current lease, as JournalPut (kStaleLease / kNotFound);
  // operators read a journal with TaskShow(id, /*include_journal=*/true).
  Result<std::vector<JournalEntry>> JournalGet(const LeaseToken& token,
                                               std::optional<std::string_view> step = std::nullopt);

  // ------------------------------------------------------ batch workers
  // (docs/batching.md; client/batch_worker.h runs the whole loop)

  // Registers a batch worker on this connection; returns its worker id. The
  // registration lasts as long as the connection: after a reconnect (or a
  // broker restart) BatchLease answers kNotFound and the worker registers
  // again. kInvalidArgument for a bad registration (the message names the
  // field and its bounds).
  Result<uint64_t> BatchRegister(const BatchRegistration& registration);

  // Long poll for one batch for `worker_id` (one poll per free slot):
  // answered when a batch forms for it, or with an empty one (id 0) after
  // wait_ms (cut to the broker's max_wait_ms). The request timeout is
  // request_timeout plus wait_ms. kNotFound: the id is not registered on this
  // connection (register again).
  Result<LeasedBatch> BatchLease(uint64_t worker_id, uint32_t wait_ms);
  void BatchLeaseAsync(uint64_t worker_id, uint32_t wait_ms, Callback<LeasedBatch> done);

  // Extends the lease of every task of the batch still held to now +
  // extend_ms (0 = the batch's lease). kStaleLease: the batch is over (every
  // task acked, nacked or expired) or is not `worker_id`'s.
  Result<BatchHeartbeatResult> BatchHeartbeat(uint64_t worker_id, uint64_t batch_id,
                                              uint32_t extend_ms = 0);
  void BatchHeartbeatAsync(uint64_t worker_id, uint64_t batch_id, uint32_t extend_ms,
                           Callback<BatchHeartbeatResult> done);

  // The batch workers, the batches in flight, and each (queue, batch key)
  // with ready or held tasks.
  Result<BatchList> ListBatches();
  // Who holds leases now (worker name, connection, tasks, oldest lease,
  // last heartbeat), busiest first.
  Result<std::vector<LeaseHolderInfo>> ListLeaseHolders();

  // ------------------------------------------------------- credentials
  // Need the admin credential of every tenant and queue ([server]
  // auth_token, or one made with roles admin, tenant "*", no queue list).

  // Creates a credential; the token in the answer is never shown again.
  // `roles`: "producer", "worker", "admin" joined by ','; `tenant` "*" for
  // every tenant; `queues` empty for every queue, else names or prefixes
  // ending in '*'.
  Result<NewCredential> AuthAdd(std::string_view name, std::string_view tenant,
                                std::string_view roles, const std::vector<std::string>& queues);
  Result<std::vector<CredentialInfo>> AuthList();
  // Connections that authenticated with it are refused from their next
  // request on.
  Status AuthRevoke(std::string_view name);

  // ------------------------------------------------------------- admin

  // A task's detail and history, alive or dead. kNotFound if unknown.
  // include_journal: the reply carries the task's effect journal too
  // (TaskInfo::journal, journal_included); a broker older than the option
  // always sends it.
  Result<TaskInfo> TaskShow(TaskId id, bool include_journal = false);

  // Dead letters with id > after_id matching `filter`; limit 0 = broker default.
  Result<DlqPage> DlqList(const DlqFilter& filter, uint64_t after_id = 0, uint32_t limit = 0);
  Result<TaskInfo> DlqShow(TaskId id);
  // Moves the selected dead letters back to READY with a fresh attempt budget;
  // returns how many moved.
  Result<uint64_t> DlqRedrive(const DlqSelection& selection);
  // Deletes the selected dead letters; returns how many.
  Result<uint64_t> DlqPurge(const DlqSelection& selection);

  // Queue and tenant statistics; `queue` empty = every queue.
  Result<StatsSnapshot> Stats(std::string_view queue = {});

  // Changes a tenant's limits (only the set fields); returns what is now in force.
  Result<TenantConfig> TenantSet(const TenantUpdate& update);
  Result<std::vector<TenantConfig>> TenantList();

  // A paused queue accepts enqueues but leases nothing until resumed. A queue
  // the broker does not know (no tasks, no stored settings) is kNotFound
  // unless `create`, which stores the setting for a queue with no tasks yet.
  // A broker older than `create` ignores it (and pauses any name).
  Status QueuePause(std::string_view queue, bool create = false);
  Status QueueResume(std::string_view queue, bool create = false);

  // --------------------------------------------------- operator control
  // (docs/protocol.md: TaskCancel, TaskSetPriority, TaskList, QueuePurge,
  // QueueDelete, QueueSet). Each change is durable before the reply.

  // Cancels a task: a ready or delayed one is a dead letter (reason
  // cancelled) at once; a leased one's holder learns at its next heartbeat
  // (kCancelled). kNotFound for an unknown id.
  Result<CancelOutcome> TaskCancel(TaskId id);
  // New priority 0..7 of a live task (a ready one moves at once).
  Status TaskSetPriority(TaskId id, uint8_t priority);
  // One page of a queue's ready, delayed and leased tasks.
  Result<TaskListPage> TaskList(const TaskListQuery& query);
  // Deletes the queue's ready and delayed tasks (only `tenant`'s when not
  // empty); returns how many.
  Result<uint64_t> QueuePurge(std::string_view queue, std::string_view tenant = {});
  // Deletes the queue, its dead letters and settings; kFailedPrecondition
  // while it has leased tasks unless `force`.
  Result<QueueDeleteResult> QueueDelete(std::string_view queue, bool force = false);
  // Changes a queue's limits (only the set fields); returns what is in force.
  Result<QueueConfig> QueueSet(const QueueUpdate& update);

  class Impl;  // client/connection.cc; public only so helpers there can name it

 private:
  explicit Client(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace sluice::client
