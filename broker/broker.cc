#include "broker/broker.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <optional>
#include <pthread.h>
#include <string_view>
#include <thread>

#include "broker/audit_trail.h"
#include "broker/audit_writer.h"
#include "broker/credential_registry.h"
#include "broker/dashboard_api.h"
#include "broker/dispatcher.h"
#include "broker/event_log.h"
#include "broker/hello_identity.h"
#include "broker/http_auth.h"
#include "broker/http_server.h"
#include "broker/metrics.h"
#include "broker/open_files_limit.h"
#include "broker/pid_file.h"
#include "common/clock.h"
#include "core/engine.h"
#include "core/record_cache_store.h"
#include "net/io_backend.h"
#include "net/server.h"
#include "store/rocks_store.h"
#include "tls/tls_context.h"

namespace sluice::broker {
namespace {

// True for the addresses only this machine reaches (127.0.0.0/8, ::1,
// "localhost"); the auth-off warning is for everything else.
bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

namespace asio = boost::asio;

// Longest sleep of the tick timer: requests may create earlier deadlines
// (long-poll timeouts) that NextWakeup() did not know when it was armed.
constexpr std::chrono::milliseconds kMaxTick{10};
// Shutdown gives sessions this long to drain before closing them hard.
constexpr std::chrono::seconds kDrainBound{5};

// Runs `io` until it is stopped or out of work, as io.run() does. With
// busy_poll_us > 0, a thread that finds nothing to do polls (a non-blocking
// epoll_wait) for up to busy_poll_us before it blocks: when the next event
// comes within that time, the thread skips a sleep and a wake-up.
void RunLoop(asio::io_context& io, uint32_t busy_poll_us) {
  if (busy_poll_us == 0) {
    io.run();
    return;
  }
  using SteadyClock = std::chrono::steady_clock;
  const auto spin = std::chrono::microseconds(busy_poll_us);
  auto last_work = SteadyClock::now();
  while (!io.stopped()) {
    if (io.poll() > 0) {
      last_work = SteadyClock::now();
    } else if (!io.stopped() && SteadyClock::now() - last_work >= spin) {
      if (io.run_one() > 0) last_work = SteadyClock::now();
    }
  }
}

// Drives Engine::Tick from a steady_timer on the loop thread.
class Ticker {
 public:
  Ticker(asio::io_context& io, core::Engine* engine, const Clock& clock)
      : timer_(io), engine_(engine), clock_(clock) {}
  void Start() { Arm(); }
  void Stop() {
    stopped_ = true;
    timer_.cancel();
  }

 private:
  void Arm() {
    if (stopped_) return;
    auto wait = kMaxTick;
    if (const auto next = engine_->NextWakeup()) {
      const auto until = std::chrono::milliseconds(std::max<TimeMs>(0, *next - clock_.NowMs()));
      wait = std::min(wait, until);
    }
    timer_.expires_after(wait);
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || stopped_) return;
      engine_->Tick();
      Arm();
    });
  }

  asio::steady_timer timer_;
  core::Engine* engine_;
  const Clock& clock_;
  bool stopped_ = false;
};

// The signals the broker takes: SIGTERM and SIGINT stop it, SIGHUP reloads
// (Broker::Reload).
sigset_t BrokerSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

// Masks the broker's signals in the calling thread (and in every thread it
// starts from now on), or unmasks them. Only the loop thread takes them: a
// signal that no thread takes stays pending instead of running its
// disposition (for SIGHUP, the default one ends the process).
void MaskBrokerSignals(bool masked) {
  const sigset_t set = BrokerSignals();
  pthread_sigmask(masked ? SIG_BLOCK : SIG_UNBLOCK, &set, nullptr);
}

tls::ServerFiles TlsFiles(const BrokerConfig& config) {
  return {config.tls_cert_file, config.tls_key_file, config.tls_client_ca_file};
}

// "on (...)", for the start-up and reload log lines.
std::string TlsText(const BrokerConfig& config, const tls::Context& context) {
  return "certificate " + context.certificate_summary() +
         (context.requires_client_certificate()
              ? "; client certificates required (mTLS, CAs from " + config.tls_client_ca_file + ")"
              : "; no client certificates asked for");
}

}  // namespace

// Members in start-up order: each is destroyed before what it uses (the
// io_context last, after everything that posts to it; the pid-file lock after
// the store is closed).
struct Broker::State {
  BrokerConfig config;
  asio::io_context io{1};
  SystemClock clock;
  net::IoBackendInfo backend;
  OpenFilesLimit files;
  uint64_t max_connections = 0;
  std::string address;
  uint16_t port = 0;
  std::unique_ptr<HttpServer> http;  // null when [http] listen is ""
  // The audit log ([audit] log): its writer thread, and the loop's side,
  // which the dispatcher and the dashboard hold; null / empty when off.
  std::unique_ptr<AuditWriter> audit_writer;
  std::optional<AuditTrail> audit;

  std::optional<PidFile> pid_file;
  std::unique_ptr<store::RocksStore> store;
  std::optional<core::RecordCacheStore> cached_store;
  // Before the engine, whose on_event posts lines to it; null when off.
  std::unique_ptr<EventLog> events;
  std::unique_ptr<core::Engine> engine;
  // Sessions hold credentials by shared_ptr; the registry outlives the
  // dispatcher that reads it.
  std::unique_ptr<CredentialRegistry> credentials;
  std::optional<DashboardApi> dashboard;  // with http, once the engine is open
  std::optional<Dispatcher> dispatcher;
  std::optional<net::Server> server;
  std::optional<Ticker> ticker;
  std::optional<asio::steady_timer> drain_timer;
  std::optional<asio::signal_set> signals;
  std::optional<asio::signal_set> hangup;  // SIGHUP: Reload

  // Loop thread only, from Run on.
  bool serving = false;
  bool shutting_down = false;
  // Set by Shutdown() from any thread; Run honours one that came before it.
  std::atomic<bool> shutdown_requested{false};

  // Runs `io` for the HTTP listener while the store and engine open.
  std::thread startup_loop;

  int OpenSteps();
  // Stops and joins startup_loop (if it runs); `io` is ready to run again.
  void StopStartupLoop();
  // /readyz: recovery is done (the engine is open: Open returned) and the
  // store takes writes (its last group commit succeeded and new tasks are not
  // refused for the free-space floor); not while shutting down.
  HttpServer::Readiness Readiness() const;
  [[nodiscard]] Status ApplyConfigLimits();
  // SIGHUP: reads the [tls] files again; on success new connections use
  // them, on failure the error is logged and the old ones stay.
  void ReloadTls();
  void OnSignal(const boost::system::error_code& ec, int signo);
  void BeginShutdown(std::string_view why);
  // SIGHUP (loop thread): see Broker::Reload.
  void OnHangup(const boost::system::error_code& ec);
  void Reload();
};

Broker::Broker() : state_(std::make_unique<State>()) {}
Broker::~Broker() = default;

int Broker::Open(const BrokerConfig& config) {
  state_->config = config;
  const int rc = state_->OpenSteps();
  state_->StopStartupLoop();  // a failed step may have left it running
  if (rc != kExitOk && state_->http) {
    // Close the HTTP connections made during start-up and run their aborted
    // handlers now, while the io_context's services are alive (see Run).
    state_->http->Stop();
    state_->io.restart();
    state_->io.poll();
  }
  return rc;
}

void Broker::State::StopStartupLoop() {
  if (!startup_loop.joinable()) return;
  io.stop();
  startup_loop.join();
  io.restart();
}

int Broker::State::OpenSteps() {
  backend = net::ProbeIoBackend();
  if (!backend.usable) {
    spdlog::critical("io backend {} unusable: {}", backend.name, backend.detail);
    return kExitStartupFailed;
  }

  files = RaiseOpenFilesLimit();
  if (!files.error.empty()) spdlog::warn("open-files limit not raised: {}", files.error);
  max_connections = ConnectionsThatFit(config.max_connections, files.soft);
  if (max_connections < config.max_connections) {
    spdlog::warn("the open-files limit {} (hard {}) holds {} connections beside the store's "
                 "files: limits.max_connections lowered from {} to {}; raise the limit (ulimit "
                 "-n, systemd LimitNOFILE=) to serve {}",
                 files.soft, files.hard, max_connections, config.max_connections,
                 max_connections, config.max_connections);
  }

  // A SIGHUP (systemctl reload) during start-up is dropped instead of
  // ending the process; Run takes it from then on (Reload).
  std::signal(SIGHUP, SIG_IGN);

  // The storage thread and RocksDB's pool threads, started below, inherit
  // the mask and never take a broker signal; Run unmasks them on the loop
  // thread once its signal_set is registered. See the teardown in Run.
  MaskBrokerSignals(true);

  // The TLS files are configuration: one that cannot be used stops the
  // broker as a bad config does, before anything is bound or touched.
  std::shared_ptr<const tls::Context> tls_context;
  if (config.tls_enabled()) {
    auto loaded = tls::Context::ForServer(TlsFiles(config));
    if (!loaded.ok()) {
      spdlog::critical("bad [tls] configuration: {}; the data directory {} was not touched",
                       loaded.status().message(), config.data_dir);
      return kExitBadConfig;
    }
    tls_context = std::move(*loaded);
    spdlog::info("TLS on: {}", TlsText(config, *tls_context));
  }

  // Bound before the data directory is touched: a taken port changes nothing
  // there. Connections wait in the backlog until server->Start() below.
  auto acceptor = net::Listen(io, config.listen_host, config.listen_port);
  if (!acceptor.ok()) {
    spdlog::critical("{}; the data directory {} was not touched", acceptor.status().ToString(),
                     config.data_dir);
    return kExitStartupFailed;
  }
  boost::system::error_code endpoint_error;
  const auto bound = acceptor->local_endpoint(endpoint_error);
  if (endpoint_error) {
    spdlog::critical("cannot read the bound address: {}", endpoint_error.message());
    return kExitStartupFailed;
  }
  port = bound.port();
  address = bound.address().to_string() + ":" + std::to_string(port);
  if (config.http_enabled()) {
    // Bound here too, so a taken HTTP port also fails before the data
    // directory is touched; it accepts once the data directory is ours.
    auto opened_http = HttpServer::Listen(io, config.http_host, config.http_port);
    if (!opened_http.ok()) {
      spdlog::critical("{}; the data directory {} was not touched",
                       opened_http.status().ToString(), config.data_dir);
      return kExitStartupFailed;
    }
    http = std::move(*opened_http);
  }

  if (!config.audit_log.empty()) {
    // Opened before the data directory is touched: a log that cannot be
    // written is a start-up failure, not a broker that refuses admins.
    auto sink = OpenAuditSink(config.audit_log);
    if (!sink.ok()) {
      spdlog::critical("{}; the data directory {} was not touched", sink.status().message(),
                       config.data_dir);
      return kExitStartupFailed;
    }
    audit_writer = std::make_unique<AuditWriter>(
        std::move(*sink), config.audit_log,
        [this](std::function<void()> fn) { asio::post(io, std::move(fn)); });
    audit.emplace(*audit_writer, clock);
  }

  auto pid = PidFile::Acquire(config.data_dir);
  if (!pid.ok()) {
    spdlog::critical("{}", pid.status().message());
    return pid.status().code() == Code::kAlreadyExists ? kExitDataDirInUse : kExitStartupFailed;
  }
  pid_file.emplace(std::move(*pid));
  if (!pid_file->write_error().empty()) {
    spdlog::warn("{}; the lock on it still keeps other brokers out", pid_file->write_error());
  }

  // While the store opens and the engine rebuilds its index (minutes for a
  // large store) a helper thread runs the loop for the HTTP listener alone:
  // /healthz answers 200, /readyz and /metrics 503 "starting". Nothing else
  // is on the io_context yet (recovery writes synchronously), and the helper
  // is joined before anything else uses it (StopStartupLoop), so every
  // handler still runs on one thread at a time.
  if (http) {
    HttpServer::Routes starting;
    starting.ready = [] {
      return HttpServer::Readiness{false, "starting: opening the store and recovering its index"};
    };
    starting.routes = DashboardApi::StartingRoutes();
    http->Start(std::move(starting));
    startup_loop = std::thread([this] { io.run(); });
    // Printed now, before the store opens, so a supervisor (or a test) can
    // watch /readyz through recovery; harnesses stop reading at the
    // listening line, which Run prints last.
    std::printf("sluiced http on %s\n", http->address().c_str());
    std::fflush(stdout);
  }

  store::StoreOptions store_options;
  store_options.dir = config.data_dir;
  store_options.durability = config.durability;
  store_options.max_group_bytes = config.max_group_bytes;
  store_options.max_group_sets = config.max_group_sets;
  store_options.wal_spare_bytes = config.wal_spare_bytes;
  store_options.min_free_bytes = config.min_free_bytes;
  store_options.post = [this](std::function<void()> fn) { asio::post(io, std::move(fn)); };
  auto opened_store = store::RocksStore::Open(std::move(store_options));
  if (!opened_store.ok()) {
    spdlog::critical("cannot open the store in {}: {}", config.data_dir,
                     opened_store.status().ToString());
    return opened_store.status().code() == Code::kNoSpace ? kExitNoSpace : kExitStartupFailed;
  }
  store = std::move(*opened_store);
  if (std::string spare_error = store->wal_spare_error(); !spare_error.empty()) {
    spdlog::warn("{}; WAL files are plain appends (slower synced writes) until a spare can be "
                 "written, retried in the background",
                 spare_error);
  }
  cached_store.emplace(*store, config.record_cache_bytes);
  core::EngineOptions engine_options = config.ToEngineOptions();
  if (!config.event_log.empty()) {
    auto opened_events = EventLog::Open(config.event_log, io);
    if (!opened_events.ok()) {
      spdlog::critical("{}", opened_events.status().message());
      return kExitStartupFailed;
    }
    events = std::move(*opened_events);
    engine_options.on_event = [log = events.get()](const core::LifecycleEvent& e) { log->Add(e); };
  }
  auto opened_engine = core::Engine::Open(*cached_store, clock, std::move(engine_options));
  if (!opened_engine.ok()) {
    spdlog::critical("cannot open the engine on {}: {}", config.data_dir,
                     opened_engine.status().ToString());
    return kExitStartupFailed;
  }
  engine = std::move(*opened_engine);
  StopStartupLoop();

  if (Status st = ApplyConfigLimits(); !st.ok()) {
    spdlog::critical("cannot apply the tenant and queue limits of the config: {}", st.ToString());
    return kExitStartupFailed;
  }

  auto loaded = CredentialRegistry::Load(
      *cached_store, clock, config.auth_token, config.credentials,
      config.config_path.empty() ? std::string("the config file") : config.config_path);
  if (!loaded.ok()) {
    // A config file that clashes with the stored credentials is a bad
    // configuration (exit 2); a store that cannot be read is not.
    const bool clash = loaded.status().code() == Code::kFailedPrecondition;
    spdlog::critical("{}: {}", clash ? "bad configuration" : "cannot read the stored credentials",
                     loaded.status().ToString());
    return clash ? kExitBadConfig : kExitStartupFailed;
  }
  credentials = std::move(*loaded);
  if (!credentials->auth_on() && credentials->size() > 0) {
    spdlog::warn("{} stored credentials are not asked for: auth is off ([server] auth_token is "
                 "not set and the config file defines no credentials)",
                 credentials->size());
  }
  if (!credentials->auth_on() && !IsLoopback(config.listen_host)) {
    spdlog::warn("auth is off and sluiced listens on {}, beyond loopback: anyone who can reach "
                 "it may enqueue, lease and purge as any tenant; set [server] auth_token "
                 "(docs/security.md)",
                 config.listen_host);
  }

  dispatcher.emplace(engine.get(), [this](std::function<void()> fn) {
    asio::post(io, std::move(fn));
  });
  dispatcher->set_credentials(credentials.get());
  if (audit) dispatcher->set_audit(&*audit);
  net::ServerOptions server_options;
  server_options.max_connections = max_connections;
  server_options.max_pending_hello = config.PendingHelloCap(max_connections);
  server_options.session.hello_timeout_ms = config.hello_timeout_ms;
  server_options.session.max_frame_bytes = config.max_frame_bytes;
  server_options.session.max_pending_responses = config.max_pending_responses;
  server_options.session.idle_timeout_ms = config.idle_timeout_ms;
  server_options.session.max_write_queue_bytes = config.max_write_queue_bytes;
  if (credentials->auth_on()) {
    server_options.session.authenticate = [reg = credentials.get(),
                                           by_cert = config.tls_cn_credential](
                                              std::string_view token, std::string_view cert_cn) {
      return IdentifyHello(*reg, by_cert, token, cert_cn);
    };
  }
  server_options.session.server_name = "sluiced " SLUICE_VERSION;
  server_options.tls = tls_context;
  server.emplace(io, std::move(*acceptor), server_options, &*dispatcher);

  spdlog::info(
      "sluiced {} starting: listen={} data_dir={} durability={} backend={} ({}) epoch={} "
      "max_connections={} max_pending_hello={} hello_timeout_ms={} open_files_limit={} "
      "max_frame_bytes={} idle_timeout_ms={} record_cache_bytes={} auth={} credentials={} "
      "tls={} audit_log={}",
      SLUICE_VERSION, address, config.data_dir,
      config.durability == core::Durability::kSync ? "sync" : "async", backend.name,
      backend.detail, engine->epoch(), max_connections, server_options.max_pending_hello,
      config.hello_timeout_ms, files.soft, config.max_frame_bytes, config.idle_timeout_ms,
      config.record_cache_bytes, credentials->auth_on() ? "on" : "off", credentials->size(),
      !tls_context ? "off" : tls_context->requires_client_certificate() ? "mtls" : "on",
      config.audit_log.empty() ? "off" : config.audit_log);

  ticker.emplace(io, engine.get(), clock);
  ticker->Start();
  server->Start();
  if (http) {
    HttpServer::Routes routes;
    routes.metrics = [this] {
      MetricsSources sources;
      sources.engine = engine.get();
      sources.server = &*server;
      sources.store = store.get();
      sources.record_cache = &*cached_store;
      sources.clock = &clock;
      sources.events = events.get();
      sources.audit = audit_writer.get();
      MetricsLimits limits;
      limits.max_series_queues = config.max_series_queues;
      limits.max_series_tenants = config.max_series_tenants;
      return RenderMetrics(sources, limits);
    };
    routes.ready = [this] { return Readiness(); };
    DashboardOptions board;
    board.engine = engine.get();
    board.clock = &clock;
    // The admin credential of the native protocol; per-credential roles
    // (a later issue) replace this authorizer alone.
    board.authorize = DashboardAuthorizer(*credentials);
    board.auth = credentials->auth_on();
    board.audit = audit ? &*audit : nullptr;
    board.ready = [this] { return Readiness(); };
    board.version = SLUICE_VERSION;
    board.started_ms = clock.NowMs();
    dashboard.emplace(std::move(board));
    routes.routes = dashboard->Routes();
    http->SetRoutes(std::move(routes));
    spdlog::info("http listener on {} (/metrics, /healthz, /readyz, the dashboard at /)",
                 http->address());
  }
  return kExitOk;
}

// Tenant and queue limits from the config file, applied and persisted before
// the first client is served. The store posts each completion to `io`, which
// is run here until all of them have arrived.
Status Broker::State::ApplyConfigLimits() {
  size_t pending = 0;
  Status failed;
  auto done = [&](Status st) {
    --pending;
    if (!st.ok() && failed.ok()) failed = st;
  };
  for (const auto& [name, limits] : config.tenants) {
    ++pending;
    engine->SetTenantLimits(name, limits, done);
  }
  for (const auto& [name, limits] : config.queues) {
    ++pending;
    engine->SetQueueLimits(name, limits, done);
  }
  if (pending > 0) {
    // The guard keeps run_one() blocking until the store's completion is
    // posted (without it an idle io_context returns at once and stops).
    // Releasing the last work stops the io_context: restart() undoes that.
    auto guard = asio::make_work_guard(io);
    while (pending > 0) io.run_one();
    guard.reset();
    io.restart();
  }
  if (!failed.ok()) return failed;
  if (!config.tenants.empty() || !config.queues.empty()) {
    spdlog::info("applied limits from the config: {} tenants, {} queues", config.tenants.size(),
                 config.queues.size());
  }
  return Status();
}

int Broker::Run() {
  State& s = *state_;
  assert(s.server && !s.signals && "Run needs a successful Open and runs once");
  s.drain_timer.emplace(s.io);
  s.signals.emplace(s.io, SIGTERM, SIGINT);
  s.signals->async_wait(
      [&s](const boost::system::error_code& ec, int signo) { s.OnSignal(ec, signo); });
  s.hangup.emplace(s.io, SIGHUP);
  s.hangup->async_wait([&s](const boost::system::error_code& ec, int) { s.OnHangup(ec); });
  MaskBrokerSignals(false);
  s.serving = true;
  if (s.shutdown_requested.load()) {
    asio::post(s.io, [&s] { s.BeginShutdown("Shutdown()"); });
  }

  std::printf("sluiced listening on %s\n", s.address.c_str());
  std::fflush(stdout);

  RunLoop(s.io, s.config.busy_poll_us);
  // Teardown (engine, then the store's final flush and close) must finish: a
  // repeated SIGTERM/SIGINT (or a SIGHUP) from here on is ignored rather than
  // fatal. Removing the signals from the set restores SIG_DFL, so they are
  // masked first (no thread takes them then: they stay pending) and set to
  // SIG_IGN after, which discards any that arrived in between.
  MaskBrokerSignals(true);
  boost::system::error_code ignored;
  s.signals->clear(ignored);
  s.signals->cancel(ignored);
  s.hangup->clear(ignored);
  s.hangup->cancel(ignored);
  std::signal(SIGTERM, SIG_IGN);
  std::signal(SIGINT, SIG_IGN);
  std::signal(SIGHUP, SIG_IGN);
  // io.stop() left the closed sessions' aborted operations unrun; each holds
  // its session. Run them now, while every Asio service is alive: otherwise
  // the io_context destructor frees them after the timer service is gone and
  // a session's timer is destroyed against freed memory (found by ASan).
  s.io.restart();
  s.io.run_for(std::chrono::seconds(1));
  return kExitOk;
}

HttpServer::Readiness Broker::State::Readiness() const {
  if (shutting_down) return {false, "shutting down"};
  const store::StoreHealth health = store->Health();
  if (!health.writable) return {false, "storage error: " + health.error};
  if (health.below_floor) return {false, "below the free-space floor: " + health.error};
  return {true, {}};
}

void Broker::Shutdown() {
  State& s = *state_;
  s.shutdown_requested.store(true);
  // Before Run, the handler may run inside Open's limits loop: it does
  // nothing then, and Run sees shutdown_requested instead.
  asio::post(s.io, [&s] {
    if (s.serving) s.BeginShutdown("Shutdown()");
  });
}

void Broker::State::OnSignal(const boost::system::error_code& ec, int signo) {
  if (ec) return;
  signals->async_wait(
      [this](const boost::system::error_code& next_ec, int next) { OnSignal(next_ec, next); });
  if (shutting_down) {
    spdlog::info("signal {}: already shutting down", signo);
    return;
  }
  BeginShutdown("signal " + std::to_string(signo));
}

void Broker::State::ReloadTls() {
  auto loaded = tls::Context::ForServer(TlsFiles(config));
  if (!loaded.ok()) {
    spdlog::error("SIGHUP: TLS reload failed, keeping the certificate loaded before: {}",
                  loaded.status().message());
    return;
  }
  spdlog::info("SIGHUP: TLS reloaded; new connections get {}", TlsText(config, **loaded));
  server->SetTls(std::move(*loaded));
}

// The drain, on the loop thread: stop accepting, answer long polls, flush,
// close the sessions gracefully (hard after kDrainBound), then stop the loop.
void Broker::State::BeginShutdown(std::string_view why) {
  if (shutting_down) return;
  shutting_down = true;
  spdlog::info("{}: shutting down (stop accepting, answer long polls, drain, flush)", why);
  server->StopAccepting();
  dispatcher->AnswerLongPollsEmpty();
  // Every queued write is made durable; its completions are posted to the
  // loop ahead of the close below, so their responses are sent first.
  store->Flush();
  asio::post(io, [this] {
    drain_timer->expires_after(kDrainBound);
    drain_timer->async_wait([this](const boost::system::error_code& tec) {
      if (tec) return;
      spdlog::warn("shutdown: sessions did not drain in {} s; closing them", kDrainBound.count());
      server->CloseAll("broker shutting down (drain timed out)");
    });
    server->CloseAllGracefully([this] {
      drain_timer->cancel();
      ticker->Stop();
      store->Flush();
      spdlog::info("record cache: {} hits, {} misses, {} evictions, {} records ({} bytes) held",
                   cached_store->hits(), cached_store->misses(), cached_store->evictions(),
                   cached_store->cached_records(), cached_store->cached_bytes());
      spdlog::info("shutdown complete");
      // Its connections' handlers run in Run's final turn of the loop.
      if (http) http->Stop();
      io.stop();
    });
  });
}

// ---------------------------------------------------------------- reload
// SIGHUP, apart from the stop signals: Broker::Reload, OnHangup and
// State::Reload (which calls ReloadTls above).

void Broker::Reload() {
  State* s = state_.get();
  asio::post(s->io, [s] {
    if (s->serving) s->Reload();
  });
}

void Broker::State::OnHangup(const boost::system::error_code& ec) {
  if (ec) return;
  hangup->async_wait([this](const boost::system::error_code& next, int) { OnHangup(next); });
  if (!shutting_down) Reload();
}

// Reloads what may change while running: the [tls] files (ReloadTls, paths
// as at start-up), then the config file's [auth.credentials.*] tables. A file that does not parse, or
// whose credentials clash, changes nothing and is logged. The outcome is an
// audit line ("auth_reload", via "signal") when the audit log is on.
void Broker::State::Reload() {
  if (server->tls()) ReloadTls();
  if (config.config_path.empty()) {
    if (!server->tls()) {
      spdlog::warn("SIGHUP: nothing to reload (sluiced was started without --config)");
    }
    return;
  }
  BrokerConfig fresh;
  Status st = ApplyTomlFile(config.config_path, &fresh);
  Result<CredentialRegistry::ConfigChange> change =
      st.ok() ? credentials->SetConfigCredentials(fresh.credentials)
              : Result<CredentialRegistry::ConfigChange>(st);
  AuditRecord record;
  record.actor = "SIGHUP";
  record.via = "signal";
  record.op = "auth_reload";
  record.params.emplace_back("file", config.config_path);
  if (!change.ok()) {
    spdlog::error("reload of {} failed; the credentials in force are kept: {}",
                  config.config_path, change.status().message());
    record.outcome = change.status();
  } else {
    auto joined = [](const std::vector<std::string>& v) {
      std::string out;
      for (const auto& n : v) out += (out.empty() ? "" : ",") + n;
      return out.empty() ? std::string("-") : out;
    };
    spdlog::info("reload of {}: credentials added {}, removed {}, changed {}, {} unchanged "
                 "(sessions of removed or changed ones are refused from their next request)",
                 config.config_path, joined(change->added), joined(change->removed),
                 joined(change->changed), change->unchanged);
    record.result.emplace_back("added", change->added);
    record.result.emplace_back("removed", change->removed);
    record.result.emplace_back("changed", change->changed);
    record.result.emplace_back("unchanged", static_cast<int64_t>(change->unchanged));
  }
  if (audit) {
    // Not held back for the log: a reload (an emergency removal, say) must
    // not wait for a failing disk. Best effort, like a refusal's line.
    audit->Write(audit->Stamp(std::move(record)), [](const Status& written) {
      if (!written.ok()) spdlog::error("audit line of a reload: {}", written.message());
    });
  }
}

const std::string& Broker::address() const { return state_->address; }
uint16_t Broker::port() const { return state_->port; }

}  // namespace sluice::broker
