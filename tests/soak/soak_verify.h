// The soak's check after each restart: everything the broker holds for the
// soak's queues, read through the broker's own read paths with the client
// (TaskList and DlqList to browse, TaskShow with the journal for each task,
// Stats for the counts), held against the oracle (CrashOracle::CheckSeen),
// which then takes it as the next cycle's baseline (ResolveSeen).
//
// Besides the oracle's promises it checks that the read paths agree with
// each other: a task listed live is shown live, a dead letter is shown dead
// with the same reason, Stats counts what the lists hold, and the number of
// tasks lies within what the oracle allows ([must exist, may exist]).
//
// Call with no other client of the broker running (the load stopped).
#pragma once

#include <cstddef>

#include "client/client.h"
#include "soak/soak_world.h"

namespace sluice::soak {

struct VerifyResult {
  size_t live = 0;  // ready + delayed tasks shown
  size_t dead = 0;
  size_t must = 0;  // the oracle's bounds on live + dead
  size_t may = 0;
  bool read_ok = true;  // false: a read failed, the check is incomplete
};

// Reports every broken promise to `world` (cycle `cycle`) and, when every
// read answered (read_ok), resolves the oracle and resets the pools to what
// the broker holds; otherwise the oracle is left as it was and the soak must
// stop (an incomplete read would count tasks as gone).
VerifyResult VerifyAfterRestart(client::Client& client, SoakWorld& world, int cycle);

}  // namespace sluice::soak
