// The tasks sluice-bench sends: which queue and tenant, and the send time
// stamped into the first 8 payload bytes (steady clock, this process), so
// delivery latency needs no broker support; and how a producer counts the
// reply to an enqueue frame.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "bench/flags.h"
#include "bench/run.h"
#include "client/client.h"

namespace sluice::loadgen {

// Fills `t` as task number `seq` of the run: --queue, tenant "t<seq %
// tenants>" with --tenants > 1, and max(--size, 8) payload bytes of 'x' that
// start with `sent_ns`.
inline void StampTask(const Flags& f, uint64_t seq, int64_t sent_ns, client::TaskSpec& t) {
  t.queue = f.queue;
  if (f.tenants > 1) t.tenant = "t" + std::to_string(seq % f.tenants);
  t.payload.assign(std::max<uint32_t>(f.size, sizeof(int64_t)), 'x');
  std::memcpy(t.payload.data(), &sent_ns, sizeof(sent_ns));
}

// The send time StampTask put into `payload`; 0 for a payload too short.
inline int64_t SentNs(std::string_view payload) {
  int64_t sent = 0;
  if (payload.size() >= sizeof(sent)) std::memcpy(&sent, payload.data(), sizeof(sent));
  return sent;
}

// How many tasks of an enqueue frame's answer were accepted.
inline uint64_t CountAccepted(const client::Client::ManyResult& items) {
  uint64_t ok = 0;
  for (const auto& item : items) ok += item.ok() ? 1 : 0;
  return ok;
}

// Counts the reply `r` to an enqueue frame into `run` (a reply: the broker is
// alive) and sets `*accepted`. False when the request failed and the run has
// ended (Run::OnFailure): the caller records nothing and sends nothing more.
inline bool CountEnqueueReply(Run& run, const Result<client::Client::ManyResult>& r,
                              uint64_t* accepted) {
  *accepted = 0;
  if (r.ok()) {
    run.replies += 1;
    *accepted = CountAccepted(*r);
    return true;
  }
  return !run.OnFailure(r.status());
}

}  // namespace sluice::loadgen
