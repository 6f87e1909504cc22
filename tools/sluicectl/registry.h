// Registry: every sluicectl command, in the order the group files register
// them (main.cc calls each Register*Commands once). That order is the order
// of `sluicectl --help` and of the reference in docs/sluicectl.md.
//
//   void RegisterQueueCommands(Registry& r) {
//     r.AddSection("Queues", "");
//     r.AddGroup("queue", "queue admin");
//     r.Add<QueueArgs>({.path = "queue pause", .summary = "stop leasing from a queue",
//                       .define = ..., .run = ...});
//   }
//
// The registry keeps each command's Args for the life of the process, binds
// them to CLI11 (Define) and type-erases the hooks, so the driver (cli.h) and
// the reference generator (reference_markdown.h) need no per-command code.
// Not thread-safe; filled once at start-up, then only read.
#pragma once

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "command.h"

namespace sluice::ctl {

class Registry {
 public:
  // One registered thing, in registration order.
  struct Entry {
    enum class Kind {
      kSection,  // a "##" section of the reference; no CLI11 node
      kGroup,    // a parent word of nested commands ("dlq")
      kCommand,  // a command a person runs
    };
    Kind kind = Kind::kCommand;
    std::string name;         // section title, or group or command path
    std::string summary;      // group and command: the --help line
    std::string description;  // section and command: Markdown prose
    // Commands only (CommandSpec's hooks, bound to the command's Args); all
    // but run may be empty.
    std::function<void(CLI::App&)> define;
    std::function<std::string(const CheckContext&)> validate;
    std::function<int(std::ostream& err)> before_connect;
    std::function<int(Context&)> run;
    std::function<int(OfflineContext&)> run_offline;
    std::function<int(LocalContext&)> run_local;

    bool is_command() const { return kind == Kind::kCommand; }
    bool offline() const { return static_cast<bool>(run_offline); }
    bool local() const { return static_cast<bool>(run_local); }
  };

  // Starts a section of the reference: the commands added after it are
  // listed under "## title", after `description` (Markdown, may be empty).
  void AddSection(std::string title, std::string description);
  // Declares the parent word of nested commands ("dlq") with its --help
  // summary. A parent that is never declared is still created, with no
  // summary.
  void AddGroup(std::string path, std::string summary);
  // Adds a command (command.h). Precondition: path, summary and run (or
  // run_local) are set, and no command or group has this path yet.
  template <typename Args>
  void Add(CommandSpec<Args> spec);

  const std::vector<Entry>& entries() const { return entries_; }
  // The paths of the commands --data-dir can run, in order.
  std::vector<std::string> OfflinePaths() const;

  // Adds every group and command to `root` as CLI11 subcommands, in
  // registration order; parsing a command calls `on_selected` with its
  // entry. Groups require one of their subcommands. The registry and
  // `on_selected` must outlive `root`'s parsing.
  void Define(CLI::App& root, std::function<void(const Entry&)> on_selected) const;

 private:
  void AddEntry(Entry entry);

  std::vector<Entry> entries_;
};

template <typename Args>
void Registry::Add(CommandSpec<Args> spec) {
  auto args = std::make_shared<Args>();
  Entry e;
  e.kind = Entry::Kind::kCommand;
  e.name = std::move(spec.path);
  e.summary = std::move(spec.summary);
  e.description = std::move(spec.description);
  if (spec.define) {
    e.define = [args, f = std::move(spec.define)](CLI::App& cmd) { f(cmd, *args); };
  }
  if (spec.validate) {
    e.validate = [args, f = std::move(spec.validate)](const CheckContext& check) {
      return f(*args, check);
    };
  }
  if (spec.before_connect) {
    e.before_connect = [args, f = std::move(spec.before_connect)](std::ostream& err) {
      return f(*args, err);
    };
  }
  if (spec.run) {
    e.run = [args, f = std::move(spec.run)](Context& ctx) { return f(ctx, *args); };
  }
  if (spec.run_local) {
    e.run_local = [args, f = std::move(spec.run_local)](LocalContext& ctx) {
      return f(ctx, *args);
    };
  }
  if (spec.run_offline) {
    e.run_offline = [args, f = std::move(spec.run_offline)](OfflineContext& ctx) {
      return f(ctx, *args);
    };
  }
  AddEntry(std::move(e));
}

}  // namespace sluice::ctl
