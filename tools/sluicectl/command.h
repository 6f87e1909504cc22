// What a sluicectl command is, and what it runs with.
//
// A command is written once, in its group file (commands_<group>.cc), as a
// CommandSpec<Args>: its path ("dlq redrive"), its help, its flags bound to
// its own Args struct, the checks CLI11 cannot make, and its bodies (against
// the broker, and optionally against a stopped broker's store). The group's
// Register*Commands function hands it to the Registry (registry.h), which
// builds the CLI11 tree, dispatches, and prints the reference in
// docs/sluicectl.md (`sluicectl help-markdown`).
//
// Exit codes are part of the script contract:
//   0  success
//   1  the request failed (broker unreachable, refused, not found, a token
//      that is no longer current, a store that cannot be opened, ...)
//   2  usage error (unknown flag, bad value, a command that needs the broker
//      run with --data-dir, ...)
#pragma once

#include <functional>
#include <initializer_list>
#include <istream>
#include <ostream>
#include <string>
#include <string_view>

#include "common/status.h"
#include "wire/protocol_defaults.h"

namespace CLI {
class App;
}  // namespace CLI

namespace sluice::client {
class Client;
}  // namespace sluice::client

namespace sluice::store {
class RocksStore;
}  // namespace sluice::store

namespace sluice::ctl {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRequestError = 1;
inline constexpr int kExitUsageError = 2;

// The flags every command takes (before or after the command's name).
struct GlobalOptions {
  std::string broker = wire::kDefaultAddress;  // HOST:PORT
  bool json = false;                           // one JSON object on stdout
  std::string data_dir;                        // non-empty: offline, read-only store inspection
  std::string token;                           // auth token for the hello
  bool tls = false;                            // TLS to a broker with [tls] set
  std::string ca_file;                         // PEM CAs for the broker's certificate
  std::string cert_file;                       // client certificate (mTLS), with key_file
  std::string key_file;
};

// A network command's world: the connected client, and where to print.
// Results go to `out` (a table, or one JSON line with --json); errors, hints
// and progress go to `err`. Lives for one run; the references outlive it.
struct Context {
  const GlobalOptions& global;
  std::string_view command;  // the path, e.g. "dlq redrive" (for messages)
  client::Client& client;
  std::ostream& out;
  std::ostream& err;

  // Prints "sluicectl: COMMAND: STATUS" and what to do next (start the
  // broker, pass --token, lease again, ...); returns kExitRequestError.
  int Fail(const Status& status) const;
  // Prints "sluicectl: MESSAGE"; returns kExitUsageError.
  int UsageError(std::string_view message) const;
};

// Context::Fail for when there is no Context yet (connecting failed).
int FailRequest(const GlobalOptions& global, std::string_view command, const Status& status,
                std::ostream& err);

// An offline command's world (--data-dir): a stopped broker's store, opened
// read-only. Output and exit codes as a network command's.
struct OfflineContext {
  const GlobalOptions& global;
  std::string_view command;
  store::RocksStore& store;
  std::ostream& out;
  std::ostream& err;

  // Prints "sluicectl: COMMAND (offline, --data-dir DIR): STATUS"; returns
  // kExitRequestError.
  int Fail(const Status& status) const;
};

// A local command's world: no broker and no store (auth hash). Input from
// `in`; output and exit codes as a network command's.
struct LocalContext {
  const GlobalOptions& global;
  std::string_view command;
  std::istream& in;
  std::ostream& out;
  std::ostream& err;
};

// What a command's validate hook sees besides its args.
struct CheckContext {
  const GlobalOptions& global;
  std::string_view command;  // the path, e.g. "dlq redrive" (for messages)
};

// One command, as its group file writes it. Only path, summary and run (or
// run_local) are required (every member has an initializer, so a designated initializer may
// leave the others out). The hooks run in this order, each only if the one
// before passed:
//
//   parse (CLI11, with define's checks) -> validate
//     -> local: run_local (no broker, no store; --broker and --data-dir unused)
//     -> --broker parses
//     -> network: before_connect -> connect -> run
//     -> offline (--data-dir): run_offline, or exit 2 if there is none
template <typename Args>
struct CommandSpec {
  // The words a person types, separated by one space: "stats", "dlq
  // redrive". A nested one's parent word gets its --help line from
  // Registry::AddGroup, called before it.
  std::string path{};
  // One line, lower case, no period: the text next to it in --help.
  std::string summary{};
  // Markdown prose for docs/sluicectl.md: what --help cannot say (rules,
  // interactions, examples). May be empty. The newlines that open and close
  // it are dropped, so it can be written as R"md(\n...\n)md".
  std::string description{};
  // Adds the positionals and flags to `cmd`, bound to `args` (which lives as
  // long as the registry), with every check CLI11 can make. Empty: none.
  std::function<void(CLI::App& cmd, Args& args)> define{};
  // What CLI11 cannot check (one of two flags, a selection, a confirmation,
  // names): "" when fine, else the usage error (exit 2, printed after
  // "sluicectl: "). Runs in both modes, before anything else.
  std::function<std::string(const Args& args, const CheckContext& check)> validate{};
  // Network mode only, before connecting: work that may fail without a
  // broker (reading a file). kExitOk to go on, else the exit code (it
  // printed why to `err`).
  std::function<int(Args& args, std::ostream& err)> before_connect{};
  // Against the broker. Returns an exit code.
  std::function<int(Context& ctx, const Args& args)> run{};
  // Against a stopped broker's store (--data-dir); empty = needs the broker.
  std::function<int(OfflineContext& ctx, const Args& args)> run_offline{};
  // Here, with neither broker nor store (auth hash); set instead of run.
  std::function<int(LocalContext& ctx, const Args& args)> run_local{};
};

// For commands without flags or positionals.
struct NoArgs {};

// A queue or tenant name a command sends, for CheckNames.
struct SentName {
  const char* kind;  // "queue" or "tenant"
  std::string_view name;
  bool optional = false;  // true: an empty name (a filter left out) is not sent
};

// The broker checks names too (it is the authority); this only answers sooner.
// "" when every name is valid, else "COMMAND: why" for the first bad one.
std::string CheckNames(std::string_view command, std::initializer_list<SentName> names);

}  // namespace sluice::ctl
