#include "soak/soak_verify.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace sluice::soak {

namespace {

using client::DeadReason;
using client::TaskState;
using Fate = CrashOracle::Fate;

Fate FateOf(DeadReason reason) {
  switch (reason) {
    case DeadReason::kFatalError:
      return Fate::kDeadFatal;
    case DeadReason::kAttemptsExhausted:
      return Fate::kDeadExhausted;
    case DeadReason::kCancelled:
      return Fate::kDeadCancelled;
    default:
      return Fate::kDeadOther;
  }
}

// What the browse paths list: live ids with their state, dead ids with their
// reason. False when a read failed (reported).
struct Listed {
  std::map<TaskId, TaskState> live;
  std::map<TaskId, DeadReason> dead;
};

bool Browse(client::Client& c, SoakWorld& world, int cycle, Listed* out) {
  for (std::string_view queue : kQueues) {
    client::TaskListQuery query;
    query.queue = std::string(queue);
    query.limit = 1000;
    for (;;) {
      auto page = c.TaskList(query);
      if (!page.ok() && page.status().code() == Code::kNotFound) break;  // no task, no setting
      if (!page.ok()) {
        world.Report(cycle, "unexpected_reply",
                     "task list " + query.queue + ": " + page.status().ToString());
        return false;
      }
      for (const auto& e : page->tasks) out->live.emplace(e.id, e.state);
      if (!page->has_more) break;
      query.after_id = page->next_after_id;
      query.after_priority = page->next_after_priority;
    }
    client::DlqFilter filter;
    filter.queue = std::string(queue);
    uint64_t after = 0;
    for (;;) {
      auto page = c.DlqList(filter, after, 10'000);
      if (!page.ok()) {
        world.Report(cycle, "unexpected_reply",
                     "dlq list " + filter.queue + ": " + page.status().ToString());
        return false;
      }
      for (const auto& e : page->entries) out->dead.emplace(e.id, e.reason);
      if (!page->has_more) break;
      after = page->next_after_id;
    }
  }
  for (const auto& [id, state] : out->live) {
    if (out->dead.count(id) != 0) {
      world.Report(cycle, "other", "task " + std::to_string(id) + " listed live and dead");
    }
  }
  return true;
}

// TaskShow of one listed task as the oracle's Seen; nullopt when it cannot
// be (reported).
std::optional<std::pair<int64_t, CrashOracle::Seen>> Show(client::Client& c, SoakWorld& world,
                                                          int cycle, TaskId id,
                                                          std::optional<DeadReason> listed_dead) {
  auto info = c.TaskShow(id, /*include_journal=*/true);
  const std::string who = "task " + std::to_string(id);
  if (!info.ok()) {
    world.Report(cycle, "other", who + " is listed but not shown: " + info.status().ToString());
    return std::nullopt;
  }
  const int64_t key = testing::KeyOfPayload(info->payload);
  if (key < 0) {
    world.Report(cycle, "other", who + " has a payload the soak never sent");
    return std::nullopt;
  }
  CrashOracle::Seen s;
  s.id = id;
  const bool dead = info->state == TaskState::kDead;
  if (dead != listed_dead.has_value()) {
    world.Report(cycle, "other",
                 who + " is listed " + (listed_dead ? "dead" : "live") + " but shown " +
                     std::string(client::Name(info->state)));
  }
  if (dead) {
    s.fate = FateOf(info->dead_reason);
    if (listed_dead && *listed_dead != info->dead_reason) {
      world.Report(cycle, "other",
                   who + " is listed dead with reason " + std::string(client::Name(*listed_dead)) +
                       ", shown " + std::string(client::Name(info->dead_reason)));
    }
    s.lost_exhausted = info->dead_reason == DeadReason::kAttemptsExhausted &&
                       !info->attempts.empty() &&
                       info->attempts.back().outcome == client::AttemptOutcome::kLost &&
                       info->run_attempts >= info->max_attempts;
  } else {
    s.fate = Fate::kLive;
    s.leased = info->state == TaskState::kLeased;
  }
  for (const auto& e : info->journal) s.journal.emplace(e.step, e.value);
  s.checkpoint = info->checkpoint.value_or("");
  if (!info->idempotency_key.empty())
    s.idempotency_key = OracleKey(info->tenant, info->idempotency_key);
  return std::make_pair(key, std::move(s));
}

}  // namespace

VerifyResult VerifyAfterRestart(client::Client& c, SoakWorld& world, int cycle) {
  VerifyResult result;
  Listed listed;
  if (!Browse(c, world, cycle, &listed)) {
    result.read_ok = false;
    return result;
  }
  std::map<int64_t, CrashOracle::Seen> seen;
  std::vector<TaskId> live_ids, dead_ids;
  auto add = [&](TaskId id, std::optional<DeadReason> dead) {
    auto shown = Show(c, world, cycle, id, dead);
    if (!shown) {
      result.read_ok = false;
      return;
    }
    (shown->second.fate == Fate::kLive ? live_ids : dead_ids).push_back(id);
    auto [it, fresh] = seen.emplace(shown->first, std::move(shown->second));
    if (!fresh) {
      world.Report(cycle, "other",
                   "seq " + std::to_string(shown->first) + " stored twice: ids " +
                       std::to_string(it->second.id) + " and " + std::to_string(id));
    }
  };
  for (const auto& [id, state] : listed.live) add(id, std::nullopt);
  for (const auto& [id, reason] : listed.dead) add(id, reason);
  result.live = live_ids.size();
  result.dead = dead_ids.size();

  // Stats counts what the lists hold.
  auto stats = c.Stats();
  if (!stats.ok()) {
    world.Report(cycle, "unexpected_reply", "stats: " + stats.status().ToString());
    result.read_ok = false;
  } else {
    uint64_t live = 0, dead = 0, leased = 0;
    for (const auto& q : stats->queues) {
      bool ours = false;
      for (std::string_view name : kQueues) ours = ours || q.name == name;
      if (!ours) continue;
      live += q.ready + q.delayed + q.leased;
      leased += q.leased;
      dead += q.dead;
    }
    if (live != listed.live.size() || dead != listed.dead.size() || leased != 0) {
      world.Report(cycle, "counts",
                   "stats say " + std::to_string(live) + " live (" + std::to_string(leased) +
                       " leased) and " + std::to_string(dead) + " dead; the lists hold " +
                       std::to_string(listed.live.size()) + " and " +
                       std::to_string(listed.dead.size()));
    }
  }

  std::pair<size_t, size_t> range;
  world.Report(cycle, world.oracle.CheckSeen(seen, &range));
  result.must = range.first;
  result.may = range.second;
  const size_t total = seen.size();
  if (result.read_ok && (total < range.first || total > range.second)) {
    world.Report(cycle, "counts",
                 "the broker holds " + std::to_string(total) + " tasks; the oracle allows " +
                     std::to_string(range.first) + ".." + std::to_string(range.second));
  }
  if (result.read_ok) {
    world.oracle.ResolveSeen(seen);
    world.ResetPools(live_ids, dead_ids);
  }
  return result;
}

}  // namespace sluice::soak
