#include "integration/broker_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

#include "support/wait_for.h"
#include "wire/frame_codec.h"

extern char** environ;

namespace sluice::testing {
namespace {

using SteadyClock = std::chrono::steady_clock;

int RemainingMs(SteadyClock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

}  // namespace

// ---------------------------------------------------------------- process

BrokerProcess::BrokerProcess(BrokerOptions options) : options_(std::move(options)) {
  data_dir_ = options_.data_dir.empty() ? work_dir() + "/data" : options_.data_dir;
  SetConfig(options_.config_toml);
}

void BrokerProcess::SetConfig(std::string toml) {
  options_.config_toml = std::move(toml);
  config_path_.clear();
  if (!options_.config_toml.empty()) {
    config_path_ = work_dir() + "/sluiced.toml";
    std::ofstream(config_path_) << options_.config_toml;
  }
}

BrokerProcess::~BrokerProcess() {
  if (running()) Kill();  // before work_dir_ (the data directory) is removed
}

::testing::AssertionResult BrokerProcess::Start() {
  if (running()) return ::testing::AssertionFailure() << "sluiced already running";
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return ::testing::AssertionFailure() << "pipe: " << std::strerror(errno);
  }
  std::vector<std::string> args = {SLUICED_PATH, "--listen", host_ + ":0", "--data-dir",
                                   data_dir_};
  if (!config_path_.empty()) {
    args.push_back("--config");
    args.push_back(config_path_);
  }
  for (const auto& a : options_.extra_args) args.push_back(a);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  if (!options_.log_file.empty()) {
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, options_.log_file.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
  }
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, SLUICED_PATH, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);
  if (rc != 0) {
    close(pipe_fds[0]);
    return ::testing::AssertionFailure() << "spawn " << SLUICED_PATH << ": " << std::strerror(rc);
  }
  pid_ = pid;
  stdout_fd_ = pipe_fds[0];

  const std::string marker = "sluiced listening on ";
  std::string out;
  const auto deadline = SteadyClock::now() + std::chrono::milliseconds(options_.start_timeout_ms);
  while (true) {
    const size_t nl = out.find('\n');
    if (nl != std::string::npos) {
      const std::string line = out.substr(0, nl);
      out.erase(0, nl + 1);
      // sluiced prints its HTTP address (when [http] listen is set) before
      // it opens the store, long before the listening line.
      const std::string http_marker = "sluiced http on ";
      if (line.rfind(http_marker, 0) == 0) {
        const std::string addr = line.substr(http_marker.size());
        http_port_ = static_cast<uint16_t>(std::stoi(addr.substr(addr.rfind(':') + 1)));
        if (options_.on_http_port) options_.on_http_port(http_port_);
        continue;
      }
      if (line.rfind(marker, 0) == 0) {
        const std::string addr = line.substr(marker.size());
        const size_t colon = addr.rfind(':');
        host_ = addr.substr(0, colon);
        port_ = static_cast<uint16_t>(std::stoi(addr.substr(colon + 1)));
        return ::testing::AssertionSuccess();
      }
      continue;
    }
    pollfd pfd{stdout_fd_, POLLIN, 0};
    const int left = RemainingMs(deadline);
    if (left == 0 || poll(&pfd, 1, left) <= 0) {
      Kill();
      return ::testing::AssertionFailure() << "sluiced printed no listening line in "
                                           << options_.start_timeout_ms << " ms";
    }
    char buf[512];
    const ssize_t n = read(stdout_fd_, buf, sizeof(buf));
    if (n <= 0) {
      const int code = WaitExit(5'000);
      if (code < 0) Kill();
      return ::testing::AssertionFailure() << "sluiced exited before listening, exit code " << code;
    }
    out.append(buf, static_cast<size_t>(n));
  }
}

int BrokerProcess::WaitExit(int timeout_ms) {
  if (!running()) return -1;
  int status = 0;
  if (!WaitFor([&] { return waitpid(pid_, &status, WNOHANG) == pid_; },
               std::chrono::milliseconds(timeout_ms), std::chrono::milliseconds(5))) {
    return -1;
  }
  pid_ = -1;
  if (stdout_fd_ >= 0) close(stdout_fd_);
  stdout_fd_ = -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

int BrokerProcess::Stop(int timeout_ms) {
  if (!running()) return -1;
  kill(pid_, SIGTERM);
  const int code = WaitExit(timeout_ms);
  if (code < 0 && running()) Kill();
  return code;
}

void BrokerProcess::Kill() {
  if (!running()) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  if (stdout_fd_ >= 0) close(stdout_fd_);
  stdout_fd_ = -1;
}

::testing::AssertionResult BrokerProcess::Restart() {
  if (running()) return ::testing::AssertionFailure() << "Restart() while running; Stop first";
  return Start();
}

ExitedProcess RunSluiced(const std::vector<std::string>& args, int timeout_ms,
                         const std::string& cwd) {
  return RunProgram(SLUICED_PATH, args, timeout_ms, cwd);
}

ExitedProcess RunProgram(const std::string& path, const std::vector<std::string>& args,
                         int timeout_ms, const std::string& cwd) {
  ExitedProcess result;
  int out_fds[2];
  int err_fds[2];
  if (pipe2(out_fds, O_CLOEXEC) != 0) return result;
  if (pipe2(err_fds, O_CLOEXEC) != 0) {
    close(out_fds[0]);
    close(out_fds[1]);
    return result;
  }
  std::vector<std::string> all = {path};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_fds[1], STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out_fds[1]);
  close(err_fds[1]);
  if (rc != 0) {
    close(out_fds[0]);
    close(err_fds[0]);
    result.err = std::string("spawn: ") + std::strerror(rc);
    return result;
  }
  // Read both pipes until both reach EOF or the deadline passes.
  const auto deadline = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
  pollfd pfds[2] = {{out_fds[0], POLLIN, 0}, {err_fds[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_pipes = 2;
  bool timed_out = false;
  while (open_pipes > 0) {
    const int left = RemainingMs(deadline);
    if (left == 0 || poll(pfds, 2, left) <= 0) {
      timed_out = RemainingMs(deadline) == 0;
      if (timed_out) break;
      continue;
    }
    for (int i = 0; i < 2; ++i) {
      if (pfds[i].fd < 0 || pfds[i].revents == 0) continue;
      char buf[4096];
      const ssize_t n = read(pfds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        close(pfds[i].fd);
        pfds[i].fd = -1;
        --open_pipes;
      }
    }
  }
  for (auto& p : pfds) {
    if (p.fd >= 0) close(p.fd);
  }
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  if (timed_out) {
    result.exit_code = -1;
  } else if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.exit_code = 128 + WTERMSIG(status);
  }
  return result;
}

// ---------------------------------------------------------------- connection

int ConnectLoopback(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

std::unique_ptr<RawConnection> RawConnection::Connect(uint16_t port) {
  const int fd = ConnectLoopback(port);
  if (fd < 0) return nullptr;
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return Adopt(fd, nullptr);
}

std::unique_ptr<RawConnection> RawConnection::Adopt(int fd,
                                                    std::unique_ptr<RawTransport> transport) {
  return std::unique_ptr<RawConnection>(new RawConnection(fd, std::move(transport)));
}

RawConnection::~RawConnection() {
  transport_.reset();
  close(fd_);
}

bool RawConnection::SendBytes(std::span<const uint8_t> bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n =
        transport_ ? transport_->Send(bytes.data() + off, bytes.size() - off)
                   : send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

bool RawConnection::SendFrame(const flatbuffers::FlatBufferBuilder& fbb) {
  return SendBytes(wire::FrameBytes(fbb));
}

ssize_t RawConnection::ReadSome(uint8_t* out, size_t n, int timeout_ms) {
  const auto deadline = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    if (!transport_ || !transport_->HasBuffered()) {
      pollfd pfd{fd_, POLLIN, 0};
      const int left = RemainingMs(deadline);
      if (left == 0 || poll(&pfd, 1, left) <= 0) return -1;
    }
    const ssize_t r = transport_ ? transport_->Recv(out, n) : recv(fd_, out, n, 0);
    if (r < 0 && errno == EINTR) continue;
    return r < 0 ? 0 : r;  // an error (a reset) ends the stream too
  }
}

bool RawConnection::ReadExact(uint8_t* out, size_t n, int timeout_ms) {
  const auto deadline = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ReadSome(out + got, n - got, RemainingMs(deadline));
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  return true;
}

std::optional<ReceivedFrame> RawConnection::ReadFrame(int timeout_ms, std::string* error) {
  uint8_t prefix[4];
  if (!ReadExact(prefix, 4, timeout_ms)) {
    if (error) *error = "timeout or connection closed";
    return std::nullopt;
  }
  const uint32_t n = static_cast<uint32_t>(prefix[0]) | (static_cast<uint32_t>(prefix[1]) << 8) |
                     (static_cast<uint32_t>(prefix[2]) << 16) |
                     (static_cast<uint32_t>(prefix[3]) << 24);
  ReceivedFrame f;
  f.bytes.resize(4 + static_cast<size_t>(n));
  std::memcpy(f.bytes.data(), prefix, 4);
  if (!ReadExact(f.bytes.data() + 4, n, timeout_ms)) {
    if (error) *error = "truncated frame";
    return std::nullopt;
  }
  flatbuffers::Verifier verifier(f.bytes.data(), f.bytes.size());
  if (!wire::fb::VerifySizePrefixedFrameBuffer(verifier)) {
    if (error) *error = "frame failed verification";
    return std::nullopt;
  }
  return f;
}

bool RawConnection::WaitClosed(int timeout_ms) {
  const auto deadline = SteadyClock::now() + std::chrono::milliseconds(timeout_ms);
  uint8_t buf[4096];
  while (true) {
    const ssize_t r = ReadSome(buf, sizeof(buf), RemainingMs(deadline));
    if (r == 0) return true;
    if (r < 0) return false;
  }
}

void RawConnection::ShutdownWrite() { shutdown(fd_, SHUT_WR); }

// ---------------------------------------------------------------- frames

namespace fb = wire::fb;

flatbuffers::FlatBufferBuilder HelloFrame(uint64_t request_id, uint16_t version,
                                          const std::string& token, const std::string& client) {
  flatbuffers::FlatBufferBuilder fbb;
  const auto hello = fb::CreateHelloDirect(fbb, version, client.c_str(),
                                           token.empty() ? nullptr : token.c_str());
  wire::FinishFrame(fbb, fb::CreateFrame(fbb, request_id, fb::Body::Hello, hello.Union()));
  return fbb;
}

flatbuffers::FlatBufferBuilder HelloFrame(uint64_t request_id) {
  return HelloFrame(request_id, wire::kProtocolVersion);
}

flatbuffers::FlatBufferBuilder EnqueueFrame(uint64_t request_id, const std::string& queue,
                                            const std::vector<std::string>& payloads) {
  flatbuffers::FlatBufferBuilder fbb;
  std::vector<flatbuffers::Offset<fb::TaskSpec>> specs;
  for (const auto& p : payloads) {
    const auto q = fbb.CreateString(queue);
    const auto payload =
        fbb.CreateVector(reinterpret_cast<const uint8_t*>(p.data()), p.size());
    fb::TaskSpecBuilder b(fbb);
    b.add_queue(q);
    b.add_priority(4);
    b.add_payload(payload);
    specs.push_back(b.Finish());
  }
  const auto body = fb::CreateEnqueue(fbb, fbb.CreateVector(specs));
  wire::FinishFrame(fbb, fb::CreateFrame(fbb, request_id, fb::Body::Enqueue, body.Union()));
  return fbb;
}

flatbuffers::FlatBufferBuilder LeaseFrame(uint64_t request_id, const std::string& queue,
                                          uint32_t max_tasks, uint32_t wait_ms,
                                          uint32_t lease_ms) {
  flatbuffers::FlatBufferBuilder fbb;
  const auto body =
      fb::CreateLeaseDirect(fbb, queue.c_str(), max_tasks, wait_ms, lease_ms, "raw-worker");
  wire::FinishFrame(fbb, fb::CreateFrame(fbb, request_id, fb::Body::Lease, body.Union()));
  return fbb;
}

flatbuffers::FlatBufferBuilder AckFrame(uint64_t request_id,
                                        const std::vector<fb::LeaseToken>& tokens) {
  flatbuffers::FlatBufferBuilder fbb;
  const auto body = fb::CreateAckDirect(fbb, &tokens);
  wire::FinishFrame(fbb, fb::CreateFrame(fbb, request_id, fb::Body::Ack, body.Union()));
  return fbb;
}

flatbuffers::FlatBufferBuilder StatsFrame(uint64_t request_id, const std::string& queue) {
  flatbuffers::FlatBufferBuilder fbb;
  const auto body = fb::CreateStatsDirect(fbb, queue.empty() ? nullptr : queue.c_str());
  wire::FinishFrame(fbb, fb::CreateFrame(fbb, request_id, fb::Body::Stats, body.Union()));
  return fbb;
}

std::unique_ptr<RawConnection> ConnectAndHello(uint16_t port) {
  auto conn = RawConnection::Connect(port);
  if (!conn) return nullptr;
  if (!conn->SendFrame(HelloFrame(1))) return nullptr;
  const auto reply = conn->ReadFrame();
  if (!reply || reply->type() != fb::Body::HelloOk) return nullptr;
  return conn;
}

}  // namespace sluice::testing
