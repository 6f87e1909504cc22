#include "broker/pid_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "broker/open_files_limit.h"

namespace sluice::broker {
namespace {

using ::testing::HasSubstr;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "pid-file-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(PidFileTest, HolderWritesItsPidAndASecondClaimNamesIt) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/a/b";  // created with its parents
  std::optional<PidFile> first;
  {
    auto r = PidFile::Acquire(dir);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    first.emplace(std::move(*r));
  }
  const std::string pid = std::to_string(getpid());
  EXPECT_EQ(ReadFile(dir + "/sluiced.pid"), pid + "\n");
  // flock conflicts between open file descriptions, also in one process.
  const auto second = PidFile::Acquire(dir);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kAlreadyExists);
  EXPECT_EQ(second.status().message(), "another sluiced (pid " + pid + ") is using " + dir);
  EXPECT_EQ(ReadFile(dir + "/sluiced.pid"), pid + "\n");
  // Released with the holder; the file stays and a new claim rewrites it.
  first.reset();
  EXPECT_TRUE(std::filesystem::exists(dir + "/sluiced.pid"));
  std::ofstream(dir + "/sluiced.pid") << "999999999999\n";
  const auto third = PidFile::Acquire(dir);
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  EXPECT_EQ(ReadFile(dir + "/sluiced.pid"), pid + "\n");
}

TEST(PidFileTest, UncreatableDirectoryIsAStorageError) {
  TempDir tmp;
  const std::string file = tmp.path() + "/plain";
  std::ofstream(file) << "x";
  const auto r = PidFile::Acquire(file + "/data");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kStorage);
  EXPECT_THAT(r.status().message(), HasSubstr(file + "/data"));
}

TEST(OpenFilesLimitTest, ConnectionsFitBesideTheReservedDescriptors) {
  // A quarter of the limit, at most kMaxReservedDescriptors, stays apart.
  EXPECT_EQ(ConnectionsThatFit(10'000, 1'048'576), 10'000u);
  EXPECT_EQ(ConnectionsThatFit(10'000, 20'000), 10'000u);
  EXPECT_EQ(ConnectionsThatFit(10'000, 8'192), 8'192u - kMaxReservedDescriptors);
  EXPECT_EQ(ConnectionsThatFit(10'000, 1'024), 768u);
  EXPECT_EQ(ConnectionsThatFit(64, 1'024), 64u);
  EXPECT_EQ(ConnectionsThatFit(10, 0), 1u);
}

TEST(OpenFilesLimitTest, RaiseNeverLowersTheLimit) {
  const OpenFilesLimit limit = RaiseOpenFilesLimit();
  EXPECT_TRUE(limit.error.empty()) << limit.error;
  EXPECT_GT(limit.soft, 0u);
  EXPECT_LE(limit.soft, limit.hard);
  EXPECT_EQ(RaiseOpenFilesLimit().soft, limit.soft);
}

}  // namespace
}  // namespace sluice::broker
