// ScopedTempDir: a fresh directory for one test, removed with everything in
// it when the object goes (RAII), so that no test rolls its own
// mkdtemp / remove_all.
#pragma once

#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace sluice::testing {

// Creates <temp_directory_path>/<prefix>-XXXXXX (mkdtemp: unique, mode 0700)
// in its constructor and removes it recursively in its destructor. A test
// cannot run without its directory, so failing to create one aborts the test
// program with a message. Not copyable or movable: the path is stable for the
// object's lifetime. Any thread; one owner.
class ScopedTempDir {
 public:
  explicit ScopedTempDir(std::string_view prefix = "sluice-test") {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      std::perror(("mkdtemp " + tmpl).c_str());
      std::abort();
    }
    path_ = std::move(tmpl);
  }
  ~ScopedTempDir() {
    std::error_code ec;  // best effort: a leftover temp dir fails no test
    std::filesystem::remove_all(path_, ec);
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace sluice::testing
