// Test harness: runs the real sluiced binary and talks raw frames to it.
//
// BrokerProcess starts build/broker/sluiced (path compiled in as SLUICED_PATH)
// with --listen 127.0.0.1:0 and its own fresh temp data dir, reads the bound
// port from the "sluiced listening on HOST:PORT" line on its stdout, and
// stops (SIGTERM), kills (SIGKILL) or restarts it on the same data dir. The
// broker's stderr (its log) goes to the test's stderr. The destructor kills a
// running broker and removes the data dir.
//
// RawConnection is a blocking TCP client that sends and receives
// length-prefixed frames built with FlatBuffers directly (no client library),
// over the socket itself or over TLS (integration/tls_connection.h).
//
// Not thread-safe; one thread per object.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <flatbuffers/flatbuffers.h>
#include <sluice/wire/sluice_generated.h>

#include "support/scoped_temp_dir.h"

namespace sluice::testing {

struct BrokerOptions {
  // Written to <work dir>/sluiced.toml and passed as --config when non-empty.
  std::string config_toml;
  // Appended to the command line (after --listen and --data-dir).
  std::vector<std::string> extra_args;
  // How long Start() waits for the "listening" line.
  int start_timeout_ms = 20'000;
  // The data directory; empty = <work dir>/data (removed with the work dir).
  std::string data_dir;
  // Called from Start() with the HTTP listener's port as soon as sluiced
  // prints it, which is before the store is opened and recovered; Start()
  // goes on waiting for the listening line meanwhile. Must not block.
  std::function<void(uint16_t http_port)> on_http_port;
  // Non-empty: sluiced's stderr (its log) is appended to this file instead
  // of going to the test's stderr, for tests that read the log.
  std::string log_file;
};

// Options whose config file is `toml`.
inline BrokerOptions WithConfig(std::string toml) {
  BrokerOptions options;
  options.config_toml = std::move(toml);
  return options;
}

class BrokerProcess {
 public:
  explicit BrokerProcess(BrokerOptions options = {});
  ~BrokerProcess();
  BrokerProcess(const BrokerProcess&) = delete;
  BrokerProcess& operator=(const BrokerProcess&) = delete;

  // Starts sluiced and waits for its listening line. Fails (with the reason)
  // if it exits first or the timeout passes.
  ::testing::AssertionResult Start();
  // SIGTERM, then waits up to timeout_ms for exit. Returns the exit code, or
  // 128 + signal if it died by a signal, or -1 on timeout (it is then killed).
  int Stop(int timeout_ms = 20'000);
  // SIGKILL and reap.
  void Kill();
  // Start() again on the same data dir (after Stop or Kill); the port changes.
  ::testing::AssertionResult Restart();
  // Replaces the config file (BrokerOptions::config_toml) used by the next
  // Start() or Restart(); empty = none.
  void SetConfig(std::string toml);

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  uint16_t port() const { return port_; }
  // The HTTP listener's port ("sluiced http on HOST:PORT"); 0 when it has none.
  uint16_t http_port() const { return http_port_; }
  const std::string& host() const { return host_; }
  std::string address() const { return host_ + ":" + std::to_string(port_); }
  const std::string& data_dir() const { return data_dir_; }
  // Temp directory holding the data dir and the config file.
  const std::string& work_dir() const { return work_dir_.path(); }

 private:
  // Waits up to timeout_ms for exit; -1 if still running.
  int WaitExit(int timeout_ms);

  BrokerOptions options_;
  ScopedTempDir work_dir_{"sluiced-test"};  // removed last, after the broker is killed
  std::string data_dir_;
  std::string config_path_;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string host_ = "127.0.0.1";
  uint16_t port_ = 0;
  uint16_t http_port_ = 0;
};

// Outcome of RunSluiced: the exit code (128 + signal if killed by one, -1 if
// it had to be killed at the timeout) and everything it wrote.
struct ExitedProcess {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs sluiced (SLUICED_PATH) with exactly `args` (nothing added) in the
// working directory `cwd` (empty: the test's), collects its stdout and stderr,
// and waits for it to exit. Killed (SIGKILL) once timeout_ms passes; for
// start-ups that must fail, so a broker that starts anyway ends as -1.
ExitedProcess RunSluiced(const std::vector<std::string>& args, int timeout_ms = 20'000,
                         const std::string& cwd = "");
// The same for any program (`path`, argv[0] included by the helper), stdin
// from /dev/null: the one child-process runner of the integration tests.
ExitedProcess RunProgram(const std::string& path, const std::vector<std::string>& args,
                         int timeout_ms = 60'000, const std::string& cwd = "");

// A received frame: owns its wire bytes (length prefix included: the sender's
// FlatBuffers alignment is relative to the prefix), verified against the schema.
struct ReceivedFrame {
  std::vector<uint8_t> bytes;
  const wire::fb::Frame* frame() const { return wire::fb::GetSizePrefixedFrame(bytes.data()); }
  uint64_t request_id() const { return frame()->request_id(); }
  wire::fb::Body type() const { return frame()->body_type(); }
};

// How a RawConnection moves bytes when it is not the plain socket: TLS over
// it (integration/tls_connection.h). Calls block, as on a blocking socket.
class RawTransport {
 public:
  virtual ~RawTransport() = default;
  // As send(2)/recv(2): bytes moved (> 0), 0 at the end of the stream
  // (Recv), < 0 on an error.
  virtual ssize_t Send(const uint8_t* data, size_t n) = 0;
  virtual ssize_t Recv(uint8_t* data, size_t n) = 0;
  // Received bytes are waiting that the socket no longer shows (decrypted,
  // buffered): read them without polling the socket.
  virtual bool HasBuffered() const = 0;
};

class RawConnection {
 public:
  // Connects to 127.0.0.1:port; nullptr on failure.
  static std::unique_ptr<RawConnection> Connect(uint16_t port);
  // Takes a connected socket `fd` (owned from now on) that moves its bytes
  // through `transport` (null: the socket itself).
  static std::unique_ptr<RawConnection> Adopt(int fd, std::unique_ptr<RawTransport> transport);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  // Sends bytes as they are; false on error (peer gone).
  bool SendBytes(std::span<const uint8_t> bytes);
  // Sends the wire frame of a builder finished by wire::FinishFrame.
  bool SendFrame(const flatbuffers::FlatBufferBuilder& fbb);
  // Reads one frame within timeout_ms. nullopt on timeout, EOF, error, or a
  // frame that fails verification (then `error` says which).
  std::optional<ReceivedFrame> ReadFrame(int timeout_ms = 10'000, std::string* error = nullptr);
  // True when the peer closes the connection (EOF or reset) within
  // timeout_ms; frames received meanwhile are discarded.
  bool WaitClosed(int timeout_ms = 10'000);
  // Reads what has arrived, up to n bytes, waiting up to timeout_ms for the
  // first: > 0 bytes read, 0 at the end of the stream (or a reset), -1 when
  // nothing came in time.
  ssize_t ReadSome(uint8_t* out, size_t n, int timeout_ms);
  // Half-closes the sending side.
  void ShutdownWrite();
  int fd() const { return fd_; }
  // The TLS (or other) transport; null for a plain socket.
  RawTransport* transport() const { return transport_.get(); }

 private:
  RawConnection(int fd, std::unique_ptr<RawTransport> transport)
      : fd_(fd), transport_(std::move(transport)) {}
  // Reads exactly n bytes into out; false on timeout/EOF/error.
  bool ReadExact(uint8_t* out, size_t n, int timeout_ms);
  int fd_;
  std::unique_ptr<RawTransport> transport_;  // before fd_ is closed: destroyed first
};

// ---------------------------------------------------------------- frames
// Each returns a builder finished with wire::FinishFrame (send with
// RawConnection::SendFrame).

flatbuffers::FlatBufferBuilder HelloFrame(uint64_t request_id, uint16_t version,
                                          const std::string& token = "",
                                          const std::string& client = "raw-test");
// Hello with the current protocol version.
flatbuffers::FlatBufferBuilder HelloFrame(uint64_t request_id);
flatbuffers::FlatBufferBuilder EnqueueFrame(uint64_t request_id, const std::string& queue,
                                            const std::vector<std::string>& payloads);
flatbuffers::FlatBufferBuilder LeaseFrame(uint64_t request_id, const std::string& queue,
                                          uint32_t max_tasks, uint32_t wait_ms,
                                          uint32_t lease_ms = 0);
flatbuffers::FlatBufferBuilder AckFrame(uint64_t request_id,
                                        const std::vector<wire::fb::LeaseToken>& tokens);
flatbuffers::FlatBufferBuilder StatsFrame(uint64_t request_id, const std::string& queue = "");

// Connects and completes the handshake (Hello -> HelloOk); nullptr on failure.
std::unique_ptr<RawConnection> ConnectAndHello(uint16_t port);

// A blocking TCP socket connected to 127.0.0.1:port (close-on-exec), or -1.
int ConnectLoopback(uint16_t port);

}  // namespace sluice::testing
