// sluiced: the sluice broker. Flags and config here; the broker itself, with
// its start-up order and exit codes, is broker/broker.h.
//
// Exit codes: 0 clean shutdown (SIGTERM/SIGINT), 1 start-up failure (store,
// listen address, io backend), 2 bad configuration or flags, 3 another
// sluiced holds the data directory, 4 too little free space for the store.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "broker/broker.h"
#include "broker/config.h"

int main(int argc, char** argv) {
  const sluice::broker::ParsedArgs args = sluice::broker::ParseArgs(argc, argv);
  if (args.exit_code >= 0) return args.exit_code;

  spdlog::set_default_logger(spdlog::stderr_color_mt("sluiced"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_level(spdlog::level::from_str(args.config.log_level));

  sluice::broker::Broker broker;
  if (const int rc = broker.Open(args.config); rc != sluice::broker::Broker::kExitOk) return rc;
  return broker.Run();
}
