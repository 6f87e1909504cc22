// Start-up against the real sluiced: a start that cannot run (the data
// directory is in use, the port is taken, no data directory given) exits with
// a clear error and changes nothing in any data directory.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "integration/broker_process.h"

namespace sluice::testing {
namespace {

namespace fs = std::filesystem;
namespace fb = wire::fb;

// Exit code of sluiced when another sluiced holds the data directory's pid
// file (broker/main.cc).
constexpr int kExitDataDirInUse = 3;

// What a directory holds: each entry's name -> size and modification time
// (ns). Directories count with size 0.
std::map<std::string, std::pair<uintmax_t, int64_t>> Listing(const std::string& dir) {
  std::map<std::string, std::pair<uintmax_t, int64_t>> out;
  std::error_code ec;
  for (const auto& entry : fs::recursive_directory_iterator(dir, ec)) {
    const auto mtime = fs::last_write_time(entry.path(), ec).time_since_epoch();
    const uintmax_t size = entry.is_regular_file(ec) ? entry.file_size(ec) : 0;
    out[fs::relative(entry.path(), dir).string()] = {
        size, std::chrono::duration_cast<std::chrono::nanoseconds>(mtime).count()};
  }
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(StartupTest, SecondBrokerOnALiveDataDirIsRefusedAndChangesNothing) {
  // No WAL spare: the live broker itself then writes nothing in the
  // background, so any change to the directory is the second broker's.
  BrokerOptions options;
  options.config_toml = "[storage]\nwal_spare_bytes = 0\n";
  BrokerProcess live(options);
  ASSERT_TRUE(live.Start());
  auto conn = ConnectAndHello(live.port());
  ASSERT_NE(conn, nullptr);
  ASSERT_TRUE(conn->SendFrame(EnqueueFrame(2, "q", {"before"})));
  auto reply = conn->ReadFrame();
  ASSERT_TRUE(reply);
  ASSERT_EQ(reply->type(), fb::Body::EnqueueResult);

  const std::string dir = live.data_dir();
  EXPECT_EQ(ReadFile(dir + "/sluiced.pid"), std::to_string(live.pid()) + "\n");
  ASSERT_TRUE(fs::exists(dir + "/LOG"));
  // The live broker's RocksDB may still append to its own LOG (start-up
  // lines written by background threads): LOG is compared apart, as the
  // same file that did not shrink, and everything else must be identical.
  struct stat log_before {};
  ASSERT_EQ(stat((dir + "/LOG").c_str(), &log_before), 0);
  auto before = Listing(dir);
  before.erase("LOG");

  // The same directory, another (free) port, the default config: with a
  // WAL spare, so a store opened by mistake would show.
  const ExitedProcess second = RunSluiced({"--listen", "127.0.0.1:0", "--data-dir", dir}, 20'000);
  EXPECT_EQ(second.exit_code, kExitDataDirInUse) << second.err;
  EXPECT_NE(
      second.err.find("another sluiced (pid " + std::to_string(live.pid()) + ") is using " + dir),
      std::string::npos)
      << second.err;
  EXPECT_EQ(second.out.find("listening"), std::string::npos) << second.out;

  auto after = Listing(dir);
  after.erase("LOG");
  EXPECT_EQ(after, before) << "the second sluiced changed the live data directory";
  struct stat log_after {};
  ASSERT_EQ(stat((dir + "/LOG").c_str(), &log_after), 0);
  EXPECT_EQ(log_after.st_ino, log_before.st_ino) << "the live LOG was replaced";
  EXPECT_GE(log_after.st_size, log_before.st_size) << "the live LOG was truncated";
  for (const auto& [name, stat] : after) {
    EXPECT_EQ(name.rfind("LOG.old", 0), std::string::npos) << "the live LOG was renamed: " << name;
  }

  // The live broker still serves, its data intact.
  ASSERT_TRUE(conn->SendFrame(LeaseFrame(3, "q", 1, 0)));
  reply = conn->ReadFrame();
  ASSERT_TRUE(reply);
  ASSERT_EQ(reply->type(), fb::Body::LeaseResult);
  ASSERT_EQ(reply->frame()->body_as_LeaseResult()->tasks()->size(), 1u);
  EXPECT_EQ(live.Stop(), 0);
}

TEST(StartupTest, TakenPortLeavesTheDataDirUntouched) {
  // Hold a listening socket on a free port.
  const int holder = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(holder, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(holder, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(holder, 8), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(holder, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string listen_at = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  BrokerProcess unused;  // for its temp work dir only
  const std::string dir = unused.work_dir() + "/data";
  const ExitedProcess r = RunSluiced({"--listen", listen_at, "--data-dir", dir}, 20'000);
  close(holder);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("cannot listen on " + listen_at), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir)) << "a start that could not bind created " << dir;
}

TEST(StartupTest, EmptyDataDirFlagIsRefused) {
  BrokerProcess unused;  // for its temp work dir only: the broker's cwd
  const ExitedProcess r =
      RunSluiced({"--listen", "127.0.0.1:0", "--data-dir", ""}, 10'000, unused.work_dir());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--data-dir"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::is_empty(unused.work_dir())) << "the refused start created files in its cwd";
}

}  // namespace
}  // namespace sluice::testing
