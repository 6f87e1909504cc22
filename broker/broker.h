// sluice::broker::Broker: one sluiced in one object. Wires net (sessions) +
// core (engine) + store (RocksDB) on one loop thread (docs/architecture.md,
// "Threads" and "Start-up and admission").
//
//   Broker broker;
//   if (int rc = broker.Open(config); rc != Broker::kExitOk) return rc;
//   return broker.Run();  // until SIGTERM/SIGINT or Shutdown()
//
// Start-up order (Open): nothing in the data directory changes before the
// broker knows it can run. (1) the io backend probe and the open-files limit;
// (2) bind and listen on the port (and the HTTP port, when [http] listen is
// set; it answers /healthz, and /readyz with 503, from here on, on a helper
// thread that runs the loop until the engine is open); (3) create the data directory and lock its
// pid file (broker/pid_file.h); (4) open the store (RocksDB, WAL spare) and the
// engine, apply the config's tenant and queue limits; (5) accept connections
// (they wait in the listen backlog until Run serves them).
//
// Exit codes (what Open and Run return; sluiced exits with them):
//   0 clean shutdown          1 start-up failure (store, listen address, io
//   2 bad configuration or      backend, engine, config limits)
//     flags (ParseArgs), or   3 another sluiced holds the data directory
//     [tls] files that cannot 4 too little free space to open the store
//     be used (Open, first)
//
// Signals: Open masks SIGTERM, SIGINT and SIGHUP in the calling thread (and
// so in the store's threads it starts) and ignores SIGHUP until Run; Run
// takes them on the thread that calls it and, once the loop is done, ignores
// them process-wide so that the teardown finishes (a repeated signal is not
// fatal then). SIGTERM and SIGINT drain and stop; SIGHUP is Reload(): the
// [tls] files for new connections and the config file's credentials. Logging goes to spdlog's
// default logger, which the caller sets up (main.cc).
//
// Threads: Open, Run and the destructor on one thread at a time (Run may run on
// another thread than Open); Shutdown from any thread. One Broker per data
// directory and process: a second one on the same directory gets exit code 3.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "broker/config.h"

namespace sluice::broker {

class Broker {
 public:
  static constexpr int kExitOk = 0;
  static constexpr int kExitStartupFailed = 1;
  static constexpr int kExitBadConfig = 2;  // ParsedArgs::exit_code, before a Broker exists
  static constexpr int kExitDataDirInUse = 3;
  static constexpr int kExitNoSpace = 4;

  Broker();
  // Closes what Open opened, the store last but the pid-file lock (released
  // after the store is closed) and the loop's io_context.
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Everything sluiced does after flag parsing up to the first accept, in the
  // order above. kExitOk, or the exit code of the step that failed (the reason
  // is logged). Call once; `config` is copied.
  [[nodiscard]] int Open(const BrokerConfig& config);

  // Prints "sluiced listening on HOST:PORT" to stdout (the harness and the
  // operator read it; Open printed "sluiced http on HOST:PORT" before it
  // opened the store when the HTTP listener is on, broker/http_server.h),
  // and serves until SIGTERM/SIGINT or Shutdown(), then
  // drains: stop accepting, answer long polls, flush the store, close the
  // sessions gracefully (hard after 5 s). Returns kExitOk. Precondition: Open
  // returned kExitOk; call once.
  int Run();

  // Starts the same drain a SIGTERM starts. Thread-safe; before Run it takes
  // effect as soon as Run starts; a second call, or one during a drain, is a
  // no-op.
  void Shutdown();

  // What SIGHUP does, from any thread, once Run serves: reads the --config
  // file again and applies its credentials ([auth.credentials.*];
  // CredentialRegistry::SetConfigCredentials). A file that fails to parse
  // keeps the credentials in force; either way the outcome is logged.
  void Reload();

  // The bound address ("HOST:PORT", port 0 resolved) once Open returned kExitOk.
  const std::string& address() const;
  uint16_t port() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace sluice::broker
