// sluicectl: the admin CLI of sluice (docs/sluicectl.md).
//
// Each command group registers its commands here, once; the order is the
// order of --help and of the reference in docs/sluicectl.md. The driver
// (cli.h) does the rest.
#include "cli.h"
#include "commands.h"

int main(int argc, char** argv) {
  sluice::ctl::Registry registry;
  sluice::ctl::RegisterStatsCommands(registry);
  sluice::ctl::RegisterWorkerCommands(registry);
  sluice::ctl::RegisterTaskCommands(registry);
  sluice::ctl::RegisterDlqCommands(registry);
  sluice::ctl::RegisterTenantCommands(registry);
  sluice::ctl::RegisterQueueCommands(registry);
  sluice::ctl::RegisterBatchCommands(registry);
  sluice::ctl::RegisterAuthCommands(registry);
  return sluice::ctl::RunCli(registry, argc, argv);
}
