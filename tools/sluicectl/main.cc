// sluicectl: the admin CLI of sluice (docs/sluicectl.md).
//
//   sluicectl [--broker HOST:PORT] [--json] [--data-dir DIR] [--token T] COMMAND ...
//
// This file parses the command line (CLI11) into a CommandLine, checks what
// CLI11 cannot (one of --payload/--payload-file, a dead-letter selection),
// then hands it to the network commands, or the offline ones with --data-dir.
// Exit codes: command_line.h.
#include <CLI/CLI.hpp>

#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "client/types.h"
#include "command_line.h"
#include "common/text.h"
#include "network_commands.h"
#include "offline_commands.h"
#include "wire/host_port.h"
#include "wire/protocol_defaults.h"

namespace sluice::ctl {
namespace {

const std::vector<std::string> kDeadReasons = {"attempts_exhausted", "fatal_error",
                                               "ttl_expired"};
// client::Name(RateUnit) of each unit.
const std::vector<std::string> kRateUnits = {"tasks", "cost"};

// What a 32-bit count or duration flag accepts; checked on the text, so an
// overflowing value says the range instead of "could not convert".
const CLI::Range kU32Range(uint32_t{0}, UINT32_MAX);

void AddDlqFilters(CLI::App* cmd, DlqFilterArgs* f) {
  cmd->add_option("--queue", f->queue, "only dead letters of this queue");
  cmd->add_option("--tenant", f->tenant, "only dead letters of this tenant");
  cmd->add_option("--reason", f->reason, "only this dead reason")
      ->check(CLI::IsMember(kDeadReasons));
  cmd->add_option("--error-contains", f->error_contains,
                  "only dead letters whose last error contains this text");
}

// Builds the CLI11 tree; each leaf sets cl->command when it is parsed.
void Define(CLI::App& app, CommandLine* cl) {
  app.require_subcommand(1);
  app.fallthrough();  // global flags are also accepted after the command
  app.add_option("--broker", cl->global.broker, "broker address HOST:PORT")
      ->default_str(wire::kDefaultAddress);
  app.add_flag("--json", cl->global.json, "print one JSON object (for scripts)");
  app.add_option("--data-dir", cl->global.data_dir,
                 "inspect a stopped broker's store read-only (queues, task show, dlq list|show)");
  app.add_option("--token", cl->global.token, "auth token, when the broker has auth on");

  const auto leaf = [cl](CLI::App* cmd, Command command) {
    cmd->callback([cl, command] { cl->command = command; });
    return cmd;
  };

  auto* stats = leaf(app.add_subcommand("stats", "broker, queue and tenant statistics"),
                     Command::kStats);
  stats->add_option("--queue", cl->queue_name, "only this queue");

  leaf(app.add_subcommand("queues", "per queue: ready, delayed, leased, dead, paused; tenants"),
       Command::kQueues);

  auto* enq = leaf(app.add_subcommand("enqueue", "enqueue one task"), Command::kEnqueue);
  EnqueueArgs& e = cl->enqueue;
  enq->add_option("--queue", e.queue, "queue name")->required();
  enq->add_option("--tenant", e.tenant, "tenant (default: the broker's default tenant)");
  enq->add_option("--priority", e.priority, "0 (most urgent) .. 7; default 4")
      ->check(CLI::Range(0, 7));
  enq->add_option("--delay", e.delay_ms, "not leasable for this many ms (0 to 4294967295)")
      ->check(kU32Range);
  auto* payload = enq->add_option("--payload", e.payload, "payload text");
  auto* payload_file =
      enq->add_option("--payload-file", e.payload_file, "read the payload from a file (- = stdin)");
  payload->excludes(payload_file);
  enq->add_option("--idempotency-key", e.idempotency_key,
                  "dedup key: a second enqueue with the same (tenant, key) returns the first id");
  enq->add_option("--max-attempts", e.max_attempts,
                  "attempts before dead-lettering: 1 .. 1000 (the broker's limit); 0 or absent ="
                  " the broker's default")
      ->check(kU32Range);
  enq->add_option("--header", e.headers, "KEY=VALUE header (repeatable)");
  enq->add_option("--ttl", e.ttl_ms,
                  "dead-letter the task if not done within this many ms; 0 or absent = no TTL")
      ->check(kU32Range);

  auto* lease = leaf(app.add_subcommand("lease", "lease tasks (prints their tokens)"),
                     Command::kLease);
  lease->add_option("--queue", cl->lease.queue, "queue name")->required();
  lease->add_option("--count", cl->lease.count, "at most this many tasks")
      ->check(CLI::Range(1u, 1u << 20));
  lease->add_option("--wait", cl->lease.wait_ms,
                    "long poll: wait up to this many ms for a task; the broker cuts a longer"
                    " wait to its [tasks] max_wait_ms (default 300000)")
      ->check(kU32Range);
  lease->add_option("--lease", cl->lease.lease_ms,
                    "lease duration in ms, 10 .. 43200000; 0 or absent = each task's own"
                    " lease_ms (set at enqueue, else the broker's [tasks] lease_ms)")
      ->check(kU32Range);
  lease->add_option("--worker", cl->lease.worker, "worker name in the task history");

  auto* ack = leaf(app.add_subcommand("ack", "ack leased tasks as done"), Command::kAck);
  ack->add_option("tokens", cl->ack_tokens, "lease tokens <task_id>.<attempt>.<epoch>")
      ->required();

  auto* nack = leaf(app.add_subcommand("nack", "report a failed attempt"), Command::kNack);
  nack->add_option("token", cl->nack.token, "lease token")->required();
  nack->add_option("--error", cl->nack.error,
                   "error text kept in the task history (the broker keeps the first 4096 bytes)");
  nack->add_flag("--fatal", cl->nack.fatal, "not retryable: dead-letter at once");
  nack->add_option("--delay", cl->nack.delay_ms, "retry after this many ms (not the backoff)")
      ->check(kU32Range);

  auto* task = app.add_subcommand("task", "task detail")->require_subcommand(1);
  auto* show = leaf(task->add_subcommand("show", "a task's state, fields and attempt history"),
                    Command::kTaskShow);
  show->add_option("id", cl->task_id, "task id")->required();

  auto* dlq = app.add_subcommand("dlq", "dead letters")->require_subcommand(1);
  DlqArgs& d = cl->dlq;
  auto* list = leaf(dlq->add_subcommand("list", "list dead letters, one page"),
                    Command::kDlqList);
  AddDlqFilters(list, &d.filter);
  list->add_option("--after", d.after, "page cursor: ids after this one (printed by list)");
  list->add_option("--limit", d.limit, "page size, 1 .. 10000; 0 or absent = 100");
  auto* dshow = leaf(dlq->add_subcommand("show", "a dead letter with every attempt's error"),
                     Command::kDlqShow);
  dshow->add_option("id", cl->task_id, "task id")->required();
  auto* redrive = leaf(dlq->add_subcommand("redrive", "move dead letters back to ready"),
                       Command::kDlqRedrive);
  AddDlqFilters(redrive, &d.filter);
  redrive->add_option("ids", d.ids, "explicit task ids");
  redrive->add_option("--limit", d.limit,
                      "redrive at most this many; 0 or absent = every selected dead letter");
  redrive->add_option("--rate", d.rate, "tasks per second, paced in small chunks")
      ->check(CLI::PositiveNumber);
  redrive->add_flag("--all", d.all, "every dead letter (when no ids or filters are given)");
  auto* purge = leaf(dlq->add_subcommand("purge", "delete dead letters for good"),
                     Command::kDlqPurge);
  AddDlqFilters(purge, &d.filter);
  purge->add_option("ids", d.ids, "explicit task ids");
  purge->add_option("--limit", d.limit,
                    "purge at most this many; 0 or absent = every selected dead letter");
  purge->add_flag("--all", d.all, "every dead letter (when no ids or filters are given)");
  purge->add_flag("--yes", d.yes, "confirm (required unless --json)");

  auto* tenant = app.add_subcommand("tenant", "tenant limits")->require_subcommand(1);
  TenantSetArgs& t = cl->tenant_set;
  auto* tset = leaf(tenant->add_subcommand("set", "change a tenant's limits (persisted)"),
                    Command::kTenantSet);
  tset->add_option("name", t.name, "tenant")->required();
  tset->add_option("--weight", t.weight, "fair-share weight, 1..10000")
      ->check(CLI::Range(1, 10000));
  tset->add_option("--rate", t.rate, "per second, in --rate-unit; 0 = unlimited")
      ->check(CLI::NonNegativeNumber);
  tset->add_option("--burst", t.burst, "token bucket size, in --rate-unit");
  tset->add_option("--rate-unit", t.rate_unit,
                   "what rate and burst count: tasks (one per task) or cost (the task's cost,"
                   " set at enqueue); unchanged when left out")
      ->check(CLI::IsMember(kRateUnits));
  tset->add_option("--max-inflight", t.max_inflight, "cap on leased tasks, 0 = unlimited");
  leaf(tenant->add_subcommand("list", "per tenant: ready, in flight, limits, throttled, share"),
       Command::kTenantList);

  auto* queue = app.add_subcommand("queue", "queue admin")->require_subcommand(1);
  auto* pause = leaf(queue->add_subcommand("pause", "stop leasing from a queue"),
                     Command::kQueuePause);
  pause->add_option("queue", cl->queue_name, "queue name")->required();
  auto* resume = leaf(queue->add_subcommand("resume", "resume leasing"), Command::kQueueResume);
  resume->add_option("queue", cl->queue_name, "queue name")->required();
}

// The queue and tenant names `cl` sends, as (kind, name); empty ones (a
// filter left out, the broker's default tenant) are not listed.
std::vector<std::pair<const char*, std::string>> NamesOf(const CommandLine& cl) {
  std::vector<std::pair<const char*, std::string>> names;
  const auto add = [&names](const char* kind, const std::string& name) {
    if (!name.empty()) names.emplace_back(kind, name);
  };
  switch (cl.command) {
    case Command::kEnqueue:
      names.emplace_back("queue", cl.enqueue.queue);
      add("tenant", cl.enqueue.tenant);
      break;
    case Command::kLease: names.emplace_back("queue", cl.lease.queue); break;
    case Command::kStats: add("queue", cl.queue_name); break;
    case Command::kQueuePause:
    case Command::kQueueResume: names.emplace_back("queue", cl.queue_name); break;
    case Command::kTenantSet: names.emplace_back("tenant", cl.tenant_set.name); break;
    case Command::kDlqList:
    case Command::kDlqRedrive:
    case Command::kDlqPurge:
      add("queue", cl.dlq.filter.queue);
      add("tenant", cl.dlq.filter.tenant);
      break;
    default: break;
  }
  return names;
}

// Checks CLI11 cannot express; returns an empty string or the usage error.
std::string Validate(const CommandLine& cl) {
  if (cl.command == Command::kEnqueue && !cl.enqueue.payload && !cl.enqueue.payload_file) {
    return "enqueue needs --payload TEXT or --payload-file FILE";
  }
  // The broker checks names too (it is the authority); this only answers sooner.
  for (const auto& [kind, name] : NamesOf(cl)) {
    if (Status st = CheckName(kind, name); !st.ok()) {
      return std::string(CommandName(cl.command)) + ": " + st.message();
    }
  }
  if (cl.command == Command::kAck || cl.command == Command::kNack) {
    const std::vector<std::string> tokens =
        cl.command == Command::kAck ? cl.ack_tokens : std::vector<std::string>{cl.nack.token};
    for (const auto& text : tokens) {
      auto token = client::LeaseToken::Parse(text);
      if (!token.ok()) {
        return std::string(CommandName(cl.command)) + ": " + token.status().message();
      }
    }
  }
  if (cl.command == Command::kDlqRedrive || cl.command == Command::kDlqPurge) {
    const DlqFilterArgs& f = cl.dlq.filter;
    const bool filtered = !f.queue.empty() || !f.tenant.empty() || !f.reason.empty() ||
                          !f.error_contains.empty();
    const std::string name = CommandName(cl.command);
    if (!cl.dlq.ids.empty() && (filtered || cl.dlq.all)) {
      return name + ": give task ids or filters (--queue, --tenant, --reason, --error-contains,"
                    " --all), not both";
    }
    if (cl.dlq.ids.empty() && !filtered && !cl.dlq.all) {
      return name + ": select dead letters with task ids, --queue, --tenant, --reason or "
                    "--error-contains; --all selects every one";
    }
    if (cl.command == Command::kDlqPurge && !cl.dlq.yes && !cl.global.json) {
      return "dlq purge deletes dead letters for good: check them with `dlq list` and the "
             "same filters, then repeat with --yes";
    }
  }
  return {};
}

int Main(int argc, char** argv) {
  CLI::App app{"sluicectl: admin CLI of the sluice task broker", "sluicectl"};
  CommandLine cl;
  Define(app, &cl);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return kExitOk;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    std::cerr << "sluicectl: " << e.what() << "\nrun `sluicectl --help` (or `sluicectl COMMAND"
              << " --help`) for usage\n";
    return kExitUsageError;
  }
  if (cl.command == Command::kNone) {
    std::cerr << "sluicectl: no command given; run `sluicectl --help`\n";
    return kExitUsageError;
  }
  if (const std::string problem = Validate(cl); !problem.empty()) {
    std::cerr << "sluicectl: " << problem << '\n';
    return kExitUsageError;
  }
  if (cl.global.data_dir.empty()) {
    if (auto address = wire::ParseHostPort(cl.global.broker, "--broker"); !address.ok()) {
      std::cerr << "sluicectl: " << address.status().message() << "\n";
      return kExitUsageError;
    }
  }
  if (!cl.global.data_dir.empty()) return RunOfflineCommand(cl, std::cout, std::cerr);
  return RunNetworkCommand(cl, std::cout, std::cerr);
}

}  // namespace
}  // namespace sluice::ctl

int main(int argc, char** argv) { return sluice::ctl::Main(argc, argv); }
