// TestPki: the certificates of the TLS tests, made by
// tests/support/make_test_pki.sh (the openssl CLI) in a fresh temp directory
// that goes with the object. The script's header lists the files (ca.pem,
// server.pem with serial 1001 and SAN IP:127.0.0.1, client.pem CN=worker-1,
// a second CA that nobody trusts, ...).
//
// The script's path comes from SLUICE_TEST_PKI_SCRIPT (a compile definition
// of the targets that use this header). Not thread-safe; one owner.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <string_view>

#include "support/scoped_temp_dir.h"

namespace sluice::testing {

class TestPki {
 public:
  TestPki() {
    const std::string command =
        "'" SLUICE_TEST_PKI_SCRIPT "' '" + dir_.path() + "' >&2";
    made_ = std::system(command.c_str()) == 0;
  }

  // False when the script failed (its output went to stderr): the tests
  // using the files must fail, not skip.
  bool ok() const { return made_; }
  // The path of one of the script's files, e.g. path("ca.pem").
  std::string path(std::string_view name) const { return dir_.path() + "/" + std::string(name); }
  const std::string& dir() const { return dir_.path(); }

 private:
  ScopedTempDir dir_{"sluice-pki"};
  bool made_ = false;
};

// A fixture whose tests share one TestPki, made once per test suite (the
// suites of a program run one after another, so one pointer serves all).
class PkiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pki_ = new TestPki(); }
  static void TearDownTestSuite() {
    delete pki_;
    pki_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(pki_->ok()) << "the test PKI could not be made"; }
  static const TestPki& pki() { return *pki_; }

 private:
  static inline TestPki* pki_ = nullptr;
};

}  // namespace sluice::testing
