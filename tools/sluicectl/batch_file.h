// `enqueue --batch-file`: reading a JSON-lines file of tasks, checking every
// line before anything is sent, and cutting the tasks into Enqueue requests
// that fit a frame. commands_worker.cc sends the requests and prints the ids.
//
// A line is one JSON object whose fields are the enqueue flags' names with
// '_' for '-' ("headers" is --header's, an object of strings); a field left
// out or null keeps the flags' value. Blank lines are skipped.
//
//   auto file = ReadBatchFile(path, SpecFromFlags(args), args.payload.has_value());
//   if (!file.ok()) ...;  // "tasks.jsonl line 2: \"payload\" must be a string, not 5"
//   for (const BatchRange& r : SplitBatch(file->tasks, server_max_frame_bytes)) ...
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "client/types.h"
#include "common/status.h"

namespace sluice::ctl {

// A request of SplitBatch holds at most this many tasks and, unless one task
// alone is bigger, about this many bytes (a quarter of the broker's default
// 16 MiB frame).
inline constexpr size_t kBatchMaxTasks = 1000;
inline constexpr size_t kBatchMaxBytes = 4u << 20;

// A batch file read and checked: every task of it, in file order.
struct BatchFile {
  std::string name;  // how messages name it: the path, or "stdin"
  std::vector<client::TaskSpec> tasks;
  std::vector<size_t> lines;  // tasks[i] came from line lines[i] (from 1)
};

// Reads the whole file `path` ("-" = stdin) and checks every line over
// `flags` (the task the enqueue flags describe; `flags_have_payload` when
// they gave a payload). An error is InvalidArgument whose message names the
// file (cannot read it) or the file and the line and what is wrong with it;
// the caller enqueues nothing then.
Result<BatchFile> ReadBatchFile(const std::string& path, const client::TaskSpec& flags,
                                bool flags_have_payload);

// One Enqueue request: tasks [begin, end) of a batch.
struct BatchRange {
  size_t begin = 0;
  size_t end = 0;
};

// Cuts `tasks` into requests, in order, each of at most kBatchMaxTasks tasks
// and about kBatchMaxBytes (at most max_frame_bytes / 2 when the broker
// announced a frame size; 0 = it did not). A task bigger than that goes in a
// request of its own. No ranges for no tasks.
std::vector<BatchRange> SplitBatch(std::span<const client::TaskSpec> tasks,
                                   uint32_t max_frame_bytes);

// Also used for the enqueue flags:

// The bytes of the file `path` ("-" = stdin). An error (InvalidArgument)
// names `what` (the flag, e.g. "--payload-file", or the line's field), the
// path and why (missing, unreadable, a directory).
Result<std::string> ReadInputFile(std::string_view what, const std::string& path);

// "" when a task's backoff delays are in order (0 = the broker's default, not
// compared), else why not, naming them `initial` and `max`. Precondition:
// each is in range.
std::string BackoffOrderProblem(uint32_t initial_ms, uint32_t max_ms, std::string_view initial,
                                std::string_view max);

}  // namespace sluice::ctl
