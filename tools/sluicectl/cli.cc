#include "cli.h"

#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "client/client.h"
#include "offline_store.h"
#include "reference_markdown.h"
#include "wire/host_port.h"
#include "wire/protocol_defaults.h"

namespace sluice::ctl {

namespace {

// "queues, task show, dlq list, dlq show"; with `merge`, the commands of one
// group that follow each other share its word: "queues, task show, dlq
// list|show".
std::string JoinPaths(const std::vector<std::string>& paths, bool merge) {
  std::string text;
  std::string last_group;
  for (const std::string& path : paths) {
    const size_t space = path.rfind(' ');
    const std::string group = space == std::string::npos ? "" : path.substr(0, space);
    if (merge && !group.empty() && group == last_group) {
      text += "|" + path.substr(space + 1);
    } else {
      text += (text.empty() ? "" : ", ") + path;
    }
    last_group = group;
  }
  return text;
}

void DefineGlobals(CLI::App& app, GlobalOptions* global, const Registry& registry) {
  app.require_subcommand(1);
  app.fallthrough();  // global flags are also accepted after the command
  app.add_option("--broker", global->broker, "broker address HOST:PORT")
      ->default_str(wire::kDefaultAddress);
  app.add_flag("--json", global->json, "print one JSON object (for scripts)");
  app.add_option("--data-dir", global->data_dir,
                 "inspect a stopped broker's store read-only (" +
                     JoinPaths(registry.OfflinePaths(), /*merge=*/true) + ")");
  app.add_option("--token", global->token, "auth token, when the broker has auth on");
  CLI::Option* tls = app.add_flag("--tls", global->tls, "TLS to a broker with [tls] set");
  app.add_option("--ca", global->ca_file,
                 "with --tls: PEM CA file the broker's certificate must chain to (default: the "
                 "system's trust store)")
      ->needs(tls);
  CLI::Option* cert =
      app.add_option("--cert", global->cert_file,
                     "with --tls: PEM client certificate, for a broker with client_ca_file (mTLS)")
          ->needs(tls);
  CLI::Option* key =
      app.add_option("--key", global->key_file, "with --tls: the client certificate's PEM key")
          ->needs(tls);
  cert->needs(key);
  key->needs(cert);
}

int RunNetwork(const Registry::Entry& command, const GlobalOptions& global, std::ostream& out,
               std::ostream& err) {
  client::ClientOptions options;
  auto address = wire::ParseHostPort(global.broker, "--broker");
  if (!address.ok()) {
    err << "sluicectl: " << address.status().message() << '\n';
    return kExitUsageError;
  }
  options.host = address->host;
  options.port = address->port;
  options.client_name = "sluicectl";
  options.token = global.token;
  options.connect_timeout = std::chrono::milliseconds(5000);
  options.tls.enabled = global.tls;
  options.tls.ca_file = global.ca_file;
  options.tls.cert_file = global.cert_file;
  options.tls.key_file = global.key_file;
  if (command.before_connect) {
    if (const int code = command.before_connect(err); code != kExitOk) return code;
  }
  auto connected = client::Client::Connect(options);
  if (!connected.ok()) return FailRequest(global, command.name, connected.status(), err);
  Context ctx{global, command.name, **connected, out, err};
  return command.run(ctx);
}

int RunOffline(const Registry& registry, const Registry::Entry& command,
               const GlobalOptions& global, std::ostream& out, std::ostream& err) {
  if (!command.offline()) {
    err << "sluicectl: " << command.name
        << " needs a running broker; --data-dir only inspects a stopped broker's store ("
        << JoinPaths(registry.OfflinePaths(), /*merge=*/false)
        << "). Drop --data-dir and use --broker HOST:PORT\n";
    return kExitUsageError;
  }
  std::unique_ptr<store::RocksStore> store = OpenStoreReadOnly(global.data_dir, err);
  if (store == nullptr) return kExitRequestError;
  OfflineContext ctx{global, command.name, *store, out, err};
  return command.run_offline(ctx);
}

}  // namespace

int RunCli(const Registry& registry, int argc, char** argv) {
  CLI::App app{"sluicectl: admin CLI of the sluice task broker", "sluicectl"};
  GlobalOptions global;
  DefineGlobals(app, &global, registry);
  const Registry::Entry* selected = nullptr;
  registry.Define(app, [&selected](const Registry::Entry& command) { selected = &command; });
  // Hidden (no group): tools/gen_docs.sh writes its output into docs/sluicectl.md.
  bool markdown = false;
  app.add_subcommand("help-markdown", "print the command reference as Markdown")
      ->group("")
      ->callback([&markdown] { markdown = true; });
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
  if (markdown) {
    PrintReferenceMarkdown(registry, app, std::cout);
    return kExitOk;
  }
  if (selected == nullptr) {
    std::cerr << "sluicectl: no command given; run `sluicectl --help`\n";
    return kExitUsageError;
  }
  if (selected->validate) {
    const std::string problem = selected->validate(CheckContext{global, selected->name});
    if (!problem.empty()) {
      std::cerr << "sluicectl: " << problem << '\n';
      return kExitUsageError;
    }
  }
  if (selected->local()) {
    LocalContext ctx{global, selected->name, std::cin, std::cout, std::cerr};
    return selected->run_local(ctx);
  }
  if (!global.data_dir.empty()) {
    return RunOffline(registry, *selected, global, std::cout, std::cerr);
  }
  return RunNetwork(*selected, global, std::cout, std::cerr);
}

}  // namespace sluice::ctl
