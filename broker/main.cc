// sluiced: the sluice broker. Wires net (sessions) + core (engine) + store
// (RocksDB) on one loop thread; see DESIGN.md "Threads".
//
// Start-up order: nothing in the data directory changes before the broker
// knows it can run. (1) flags and config; (2) the open-files limit; (3) bind
// and listen on the port; (4) create the data directory and lock its pid file
// (broker/pid_file.h); (5) open the store (RocksDB, WAL spare) and the engine;
// (6) accept connections.
//
// Exit codes: 0 clean shutdown (SIGTERM/SIGINT), 1 start-up failure (store,
// listen address, io backend), 2 bad configuration or flags, 3 another
// sluiced holds the data directory.
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <memory>

#include "broker/config.h"
#include "broker/dispatcher.h"
#include "broker/open_files_limit.h"
#include "broker/pid_file.h"
#include "common/clock.h"
#include "core/engine.h"
#include "core/record_cache_store.h"
#include "net/io_backend.h"
#include "net/server.h"
#include "store/rocks_store.h"

namespace sluice::broker {
namespace {

// Runs `io` until it is stopped or out of work, as io.run() does. With
// busy_poll_us > 0, a thread that finds nothing to do polls (a non-blocking
// epoll_wait) for up to busy_poll_us before it blocks: when the next event
// comes within that time, the thread skips a sleep and a wake-up.
void RunLoop(boost::asio::io_context& io, uint32_t busy_poll_us) {
  if (busy_poll_us == 0) {
    io.run();
    return;
  }
  using Clock = std::chrono::steady_clock;
  const auto spin = std::chrono::microseconds(busy_poll_us);
  auto last_work = Clock::now();
  while (!io.stopped()) {
    if (io.poll() > 0) {
      last_work = Clock::now();
    } else if (!io.stopped() && Clock::now() - last_work >= spin) {
      if (io.run_one() > 0) last_work = Clock::now();
    }
  }
}

namespace asio = boost::asio;

constexpr int kExitStartupFailed = 1;
constexpr int kExitDataDirInUse = 3;
constexpr int kExitNoSpace = 4;  // too little free space to open the store

// Longest sleep of the tick timer: requests may create earlier deadlines
// (long-poll timeouts) that NextWakeup() did not know when it was armed.
constexpr std::chrono::milliseconds kMaxTick{10};
// Shutdown gives sessions this long to drain before closing them hard.
constexpr std::chrono::seconds kDrainBound{5};

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

// SIGTERM and SIGINT, the signals that stop the broker.
sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

// Masks the stop signals in the calling thread (and in every thread it starts
// from now on), or unmasks them. Only the loop thread takes them: a signal
// that no thread takes stays pending instead of running its disposition.
void MaskStopSignals(bool masked) {
  const sigset_t set = StopSignals();
  pthread_sigmask(masked ? SIG_BLOCK : SIG_UNBLOCK, &set, nullptr);
}

int Run(const BrokerConfig& config) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("sluiced"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_level(spdlog::level::from_str(config.log_level));

  const net::IoBackendInfo backend = net::ProbeIoBackend();
  if (!backend.usable) {
    spdlog::critical("io backend {} unusable: {}", backend.name, backend.detail);
    return kExitStartupFailed;
  }

  const OpenFilesLimit files = RaiseOpenFilesLimit();
  if (!files.error.empty()) spdlog::warn("open-files limit not raised: {}", files.error);
  const uint64_t max_connections = ConnectionsThatFit(config.max_connections, files.soft);
  if (max_connections < config.max_connections) {
    spdlog::warn("the open-files limit {} (hard {}) holds {} connections beside the store's "
                 "files: limits.max_connections lowered from {} to {}; raise the limit (ulimit "
                 "-n, systemd LimitNOFILE=) to serve {}",
                 files.soft, files.hard, max_connections, config.max_connections,
                 max_connections, config.max_connections);
  }

  // The storage thread and RocksDB's pool threads, started below, inherit
  // the mask and never take a stop signal; the loop thread unmasks them once
  // its signal_set is registered. See the teardown at the end of Run.
  MaskStopSignals(true);

  // Declared first: destroyed last, after everything that posts to it.
  asio::io_context io(1);
  SystemClock clock;

  // Bound before the data directory is touched: a taken port changes nothing
  // there. Connections wait in the backlog until server.Start() below.
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
  const std::string address = bound.address().to_string() + ":" + std::to_string(bound.port());

  // Held until Run returns, after the store is closed.
  auto pid_file = PidFile::Acquire(config.data_dir);
  if (!pid_file.ok()) {
    spdlog::critical("{}", pid_file.status().message());
    return pid_file.status().code() == Code::kAlreadyExists ? kExitDataDirInUse
                                                            : kExitStartupFailed;
  }
  if (!pid_file->write_error().empty()) {
    spdlog::warn("{}; the lock on it still keeps other brokers out", pid_file->write_error());
  }

  store::StoreOptions store_options;
  store_options.dir = config.data_dir;
  store_options.durability = config.durability;
  store_options.max_group_bytes = config.max_group_bytes;
  store_options.max_group_sets = config.max_group_sets;
  store_options.wal_spare_bytes = config.wal_spare_bytes;
  store_options.min_free_bytes = config.min_free_bytes;
  store_options.post = [&io](std::function<void()> fn) { asio::post(io, std::move(fn)); };
  auto store = store::RocksStore::Open(std::move(store_options));
  if (!store.ok()) {
    spdlog::critical("cannot open the store in {}: {}", config.data_dir,
                     store.status().ToString());
    return store.status().code() == Code::kNoSpace ? kExitNoSpace : kExitStartupFailed;
  }
  if (std::string spare_error = (*store)->wal_spare_error(); !spare_error.empty()) {
    spdlog::warn("{}; WAL files are plain appends (slower synced writes) until a spare can be "
                 "written, retried in the background",
                 spare_error);
  }
  core::RecordCacheStore cached_store(**store, config.record_cache_bytes);
  auto engine = core::Engine::Open(cached_store, clock, config.ToEngineOptions());
  if (!engine.ok()) {
    spdlog::critical("cannot open the engine on {}: {}", config.data_dir,
                     engine.status().ToString());
    return 1;
  }

  // Tenant and queue limits from the config file, applied and persisted
  // before the first client is served. The store posts each completion to
  // `io`, which is run here until all of them have arrived.
  {
    size_t pending = 0;
    Status failed;
    auto done = [&](Status st) {
      --pending;
      if (!st.ok() && failed.ok()) failed = st;
    };
    for (const auto& [name, limits] : config.tenants) {
      ++pending;
      (*engine)->SetTenantLimits(name, limits, done);
    }
    for (const auto& [name, limits] : config.queues) {
      ++pending;
      (*engine)->SetQueueLimits(name, limits, done);
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
    if (!failed.ok()) {
      spdlog::critical("cannot apply the tenant and queue limits of the config: {}",
                       failed.ToString());
      return 1;
    }
    if (!config.tenants.empty() || !config.queues.empty()) {
      spdlog::info("applied limits from the config: {} tenants, {} queues", config.tenants.size(),
                   config.queues.size());
    }
  }

  Dispatcher dispatcher(engine->get(),
                        [&io](std::function<void()> fn) { asio::post(io, std::move(fn)); });
  net::ServerOptions server_options;
  server_options.max_connections = max_connections;
  server_options.max_pending_hello = config.PendingHelloCap(max_connections);
  server_options.session.hello_timeout_ms = config.hello_timeout_ms;
  server_options.session.max_frame_bytes = config.max_frame_bytes;
  server_options.session.max_pending_responses = config.max_pending_responses;
  server_options.session.idle_timeout_ms = config.idle_timeout_ms;
  server_options.session.max_write_queue_bytes = config.max_write_queue_bytes;
  server_options.session.auth_token = config.auth_token;
  server_options.session.server_name = "sluiced " SLUICE_VERSION;
  net::Server server(io, std::move(*acceptor), server_options, &dispatcher);

  spdlog::info(
      "sluiced {} starting: listen={} data_dir={} durability={} backend={} ({}) epoch={} "
      "max_connections={} max_pending_hello={} hello_timeout_ms={} open_files_limit={} "
      "max_frame_bytes={} idle_timeout_ms={} record_cache_bytes={} auth={}",
      SLUICE_VERSION, address, config.data_dir,
      config.durability == core::Durability::kSync ? "sync" : "async", backend.name,
      backend.detail, (*engine)->epoch(), max_connections, server_options.max_pending_hello,
      config.hello_timeout_ms, files.soft, config.max_frame_bytes, config.idle_timeout_ms,
      config.record_cache_bytes, config.auth_token.empty() ? "off" : "on");

  Ticker ticker(io, engine->get(), clock);
  ticker.Start();
  server.Start();

  asio::steady_timer drain_timer(io);
  asio::signal_set signals(io, SIGTERM, SIGINT);
  bool shutting_down = false;
  std::function<void(const boost::system::error_code&, int)> on_signal;
  on_signal = [&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    signals.async_wait(on_signal);
    if (shutting_down) {
      spdlog::info("signal {}: already shutting down", signo);
      return;
    }
    shutting_down = true;
    spdlog::info("signal {}: shutting down (stop accepting, answer long polls, drain, flush)",
                 signo);
    server.StopAccepting();
    dispatcher.AnswerLongPollsEmpty();
    // Every queued write is made durable; its completions are posted to the
    // loop ahead of the close below, so their responses are sent first.
    (*store)->Flush();
    asio::post(io, [&] {
      drain_timer.expires_after(kDrainBound);
      drain_timer.async_wait([&](const boost::system::error_code& tec) {
        if (tec) return;
        spdlog::warn("shutdown: sessions did not drain in {} s; closing them",
                     kDrainBound.count());
        server.CloseAll("broker shutting down (drain timed out)");
      });
      server.CloseAllGracefully([&] {
        drain_timer.cancel();
        ticker.Stop();
        (*store)->Flush();
        spdlog::info("record cache: {} hits, {} misses, {} evictions, {} records ({} bytes) held",
                     cached_store.hits(), cached_store.misses(), cached_store.evictions(),
                     cached_store.cached_records(), cached_store.cached_bytes());
        spdlog::info("shutdown complete");
        io.stop();
      });
    });
  };
  signals.async_wait(on_signal);
  MaskStopSignals(false);

  std::printf("sluiced listening on %s\n", address.c_str());
  std::fflush(stdout);

  RunLoop(io, config.busy_poll_us);
  // Teardown (engine, then the store's final flush and close) must finish: a
  // repeated SIGTERM/SIGINT from here on is ignored rather than fatal. Removing
  // the signals from the set restores SIG_DFL, so they are masked first (no
  // thread takes them then: they stay pending) and set to SIG_IGN after, which
  // discards any that arrived in between.
  MaskStopSignals(true);
  boost::system::error_code ignored;
  signals.clear(ignored);
  signals.cancel(ignored);
  std::signal(SIGTERM, SIG_IGN);
  std::signal(SIGINT, SIG_IGN);
  // io.stop() left the closed sessions' aborted operations unrun; each holds
  // its session. Run them now, while every Asio service is alive: otherwise
  // the io_context destructor frees them after the timer service is gone and
  // a session's timer is destroyed against freed memory (found by ASan).
  io.restart();
  io.run_for(std::chrono::seconds(1));
  return 0;
}

}  // namespace
}  // namespace sluice::broker

int main(int argc, char** argv) {
  const sluice::broker::ParsedArgs args = sluice::broker::ParseArgs(argc, argv);
  if (args.exit_code >= 0) return args.exit_code;
  return sluice::broker::Run(args.config);
}
