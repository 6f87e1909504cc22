// Runs the sluicectl binary of this build (SLUICECTL_PATH, compiled in by the
// test's CMake target) through the harness's child-process runner
// (broker_process.h, RunProgram) and keeps what it said.
#pragma once

#include <string>
#include <vector>

#include "integration/broker_process.h"

#ifndef SLUICECTL_PATH
#error "SLUICECTL_PATH must name the sluicectl binary"
#endif

namespace sluice::testing {

// One finished sluicectl run.
struct CtlResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs sluicectl with `args` (no shell), stdin from /dev/null; waits for it.
inline CtlResult RunCtl(const std::vector<std::string>& args) {
  const ExitedProcess p = RunProgram(SLUICECTL_PATH, args);
  CtlResult r;
  r.exit_code = p.exit_code;
  r.out = p.out;
  r.err = p.err;
  return r;
}

// sluicectl --broker ADDRESS --json ARGS...
inline CtlResult RunCtlJson(const std::string& address, std::vector<std::string> args) {
  args.insert(args.begin(), {"--broker", address, "--json"});
  return RunCtl(args);
}

// For a failed expectation's message: the exit code and both streams.
inline std::string Describe(const CtlResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout: " + r.out + "\nstderr: " + r.err;
}

}  // namespace sluice::testing
