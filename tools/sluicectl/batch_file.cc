#include "batch_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <optional>
#include <sstream>
#include <utility>

#include "common/text.h"
#include "common/json_reader.h"
#include "wire/protocol_defaults.h"

namespace sluice::ctl {

namespace {

using wire::kMaxBackoffMs;
using wire::kMaxLeaseMs;
using wire::kMinLeaseMs;

// ---- Lines: one JSON object per line; a field per flag.

// One line's task while its fields are read.
struct LineTask {
  client::TaskSpec spec;                    // starts as the flags' task
  bool has_payload = false;                 // the flags or the line gave one
  bool line_payload = false;                // the line has "payload"
  std::optional<std::string> payload_file;  // the line's "payload_file"
};

// How a field's value shows in a message: a number as written, else its type.
std::string Shown(const JsonValue& v) {
  if (v.type() == JsonValue::Type::kNumber) return v.text();
  return std::string(DescribeJsonType(v));
}

// Sets `*out` from a string field; "" or why not.
std::string StringField(std::string_view name, const JsonValue& v, std::string* out) {
  if (v.type() != JsonValue::Type::kString) {
    return "\"" + std::string(name) + "\" must be a string, not " + Shown(v);
  }
  *out = v.text();
  return {};
}

// Sets `*out` from an integer field in [min, max] (or 0 when zero_ok, which
// means the default); "" or why not.
std::string UintField(std::string_view name, const JsonValue& v, uint32_t min, uint32_t max,
                      bool zero_ok, uint32_t* out) {
  const std::optional<int64_t> n = v.AsInt64();
  if (n && ((zero_ok && *n == 0) || (*n >= min && *n <= max))) {
    *out = static_cast<uint32_t>(*n);
    return {};
  }
  std::string range = "an integer from " + std::to_string(min) + " to " + std::to_string(max);
  if (zero_ok) range = "0 (the default) or " + range;
  return "\"" + std::string(name) + "\" must be " + range + ", not " + Shown(v);
}

std::string HeadersField(const JsonValue& v, std::vector<client::Header>* out) {
  if (v.type() != JsonValue::Type::kObject) {
    return "\"headers\" must be an object of strings ({\"key\": \"value\"}), not " + Shown(v);
  }
  out->clear();  // the line's headers replace the --header flags
  for (const JsonMember& m : v.members()) {
    if (m.key.empty()) return "\"headers\" has an empty key";
    if (m.value.type() != JsonValue::Type::kString) {
      return "header " + QuoteBytes(m.key) + " must be a string, not " + Shown(m.value);
    }
    out->push_back({m.key, m.value.text()});
  }
  return {};
}

// The fields of a line, each a flag's name with '_' for '-' ("headers" is
// --header's). A field the line leaves out (or sets to null) keeps the
// flag's value.
struct LineField {
  const char* name;
  std::string (*apply)(const JsonValue& v, LineTask& t);
};

constexpr uint32_t kU32Max = UINT32_MAX;

const LineField kLineFields[] = {
    {"queue",
     [](const JsonValue& v, LineTask& t) { return StringField("queue", v, &t.spec.queue); }},
    {"payload",
     [](const JsonValue& v, LineTask& t) {
       t.has_payload = t.line_payload = true;
       return StringField("payload", v, &t.spec.payload);
     }},
    {"payload_file",
     [](const JsonValue& v, LineTask& t) {
       std::string path;
       std::string problem = StringField("payload_file", v, &path);
       t.payload_file = std::move(path);
       return problem;
     }},
    {"tenant",
     [](const JsonValue& v, LineTask& t) { return StringField("tenant", v, &t.spec.tenant); }},
    {"priority",
     [](const JsonValue& v, LineTask& t) {
       uint32_t p = 0;
       std::string problem = UintField("priority", v, 0, 7, false, &p);
       if (problem.empty()) t.spec.priority = static_cast<uint8_t>(p);
       return problem;
     }},
    {"delay",
     [](const JsonValue& v, LineTask& t) {
       return UintField("delay", v, 0, kU32Max, false, &t.spec.delay_ms);
     }},
    {"idempotency_key",
     [](const JsonValue& v, LineTask& t) {
       return StringField("idempotency_key", v, &t.spec.idempotency_key);
     }},
    {"max_attempts",
     [](const JsonValue& v, LineTask& t) {
       return UintField("max_attempts", v, 0, kU32Max, false, &t.spec.max_attempts);
     }},
    {"headers", [](const JsonValue& v, LineTask& t) { return HeadersField(v, &t.spec.headers); }},
    {"ttl", [](const JsonValue& v,
               LineTask& t) { return UintField("ttl", v, 0, kU32Max, false, &t.spec.ttl_ms); }},
    {"cost", [](const JsonValue& v,
                LineTask& t) { return UintField("cost", v, 0, kU32Max, false, &t.spec.cost); }},
    {"batch_key", [](const JsonValue& v,
                     LineTask& t) { return StringField("batch_key", v, &t.spec.batch_key); }},
    {"lease",
     [](const JsonValue& v, LineTask& t) {
       return UintField("lease", v, kMinLeaseMs, kMaxLeaseMs, true, &t.spec.lease_ms);
     }},
    {"backoff_initial",
     [](const JsonValue& v, LineTask& t) {
       return UintField("backoff_initial", v, 0, kMaxBackoffMs, false,
                        &t.spec.backoff.initial_ms);
     }},
    {"backoff_max",
     [](const JsonValue& v, LineTask& t) {
       return UintField("backoff_max", v, 0, kMaxBackoffMs, false, &t.spec.backoff.max_ms);
     }},
};

std::string KnownFields() {
  std::string names;
  for (const LineField& f : kLineFields) names += (names.empty() ? "" : ", ") + std::string(f.name);
  return names;
}

// Reads one line's object over `t` (the flags' task). "" when the line is a
// complete, valid task, else why not.
std::string ApplyLine(const JsonValue& line, LineTask& t) {
  if (line.type() != JsonValue::Type::kObject) {
    return "a line must be one JSON object ({\"payload\": ...}), not " + Shown(line);
  }
  for (const JsonMember& m : line.members()) {
    const LineField* field = nullptr;
    for (const LineField& f : kLineFields) {
      if (m.key == f.name) field = &f;
    }
    if (field == nullptr) {
      return "unknown field " + QuoteBytes(m.key) + " (the fields: " + KnownFields() + ")";
    }
    if (m.value.is_null()) continue;  // as if left out: the flag's value
    if (std::string problem = field->apply(m.value, t); !problem.empty()) return problem;
  }
  if (t.payload_file) {
    if (t.line_payload) return "give \"payload\" or \"payload_file\", not both";
    if (*t.payload_file == "-") return "\"payload_file\" cannot be - (stdin): name a file";
    auto bytes = ReadInputFile("payload_file", *t.payload_file);
    if (!bytes.ok()) return bytes.status().message();
    t.spec.payload = std::move(*bytes);
    t.has_payload = true;
  }
  if (t.spec.queue.empty()) return "no queue: give \"queue\" in the line, or --queue";
  if (!t.has_payload) {
    return "no payload: give \"payload\" or \"payload_file\" in the line, or --payload or"
           " --payload-file";
  }
  if (Status st = CheckName("queue", t.spec.queue); !st.ok()) return st.message();
  if (!t.spec.tenant.empty()) {
    if (Status st = CheckName("tenant", t.spec.tenant); !st.ok()) return st.message();
  }
  return BackoffOrderProblem(t.spec.backoff.initial_ms, t.spec.backoff.max_ms,
                             "\"backoff_initial\"", "\"backoff_max\"");
}

// What a task adds to an Enqueue frame, roughly (bytes).
size_t EstimatedBytes(const client::TaskSpec& t) {
  size_t bytes = 128 + t.queue.size() + t.tenant.size() + t.payload.size() + t.batch_key.size() +
                 t.idempotency_key.size();
  for (const auto& h : t.headers) bytes += 16 + h.key.size() + h.value.size();
  return bytes;
}

}  // namespace

Result<BatchFile> ReadBatchFile(const std::string& path, const client::TaskSpec& flags,
                                bool flags_have_payload) {
  auto text = ReadInputFile("--batch-file", path);
  if (!text.ok()) return text.status();
  BatchFile file;
  file.name = path == "-" ? std::string("stdin") : path;
  const std::string_view all = *text;
  size_t line_no = 0;
  for (size_t begin = 0; begin < all.size();) {
    size_t end = all.find('\n', begin);
    if (end == std::string_view::npos) end = all.size();
    const std::string_view line = all.substr(begin, end - begin);
    begin = end + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;  // blank
    std::string problem;
    LineTask task;
    task.spec = flags;
    task.has_payload = flags_have_payload;
    if (auto json = ParseJson(line); !json.ok()) {
      problem = "not JSON: " + json.status().message();
    } else {
      problem = ApplyLine(*json, task);
    }
    if (!problem.empty()) {
      return Status::InvalidArgument(file.name + " line " + std::to_string(line_no) + ": " +
                                     problem);
    }
    file.tasks.push_back(std::move(task.spec));
    file.lines.push_back(line_no);
  }
  return file;
}

std::vector<BatchRange> SplitBatch(std::span<const client::TaskSpec> tasks,
                                   uint32_t max_frame_bytes) {
  size_t max_bytes = kBatchMaxBytes;
  if (max_frame_bytes != 0) max_bytes = std::min<size_t>(max_bytes, max_frame_bytes / 2);
  std::vector<BatchRange> ranges;
  for (size_t begin = 0; begin < tasks.size();) {
    size_t end = begin;
    size_t bytes = 0;
    while (end < tasks.size() && end - begin < kBatchMaxTasks) {
      const size_t more = EstimatedBytes(tasks[end]);
      if (end > begin && bytes + more > max_bytes) break;
      bytes += more;
      ++end;
    }
    ranges.push_back({begin, end});
    begin = end;
  }
  return ranges;
}

Result<std::string> ReadInputFile(std::string_view what, const std::string& path) {
  if (path == "-") {
    std::ostringstream bytes;
    bytes << std::cin.rdbuf();
    return std::move(bytes).str();
  }
  const auto fail = [what, &path](const std::string& why) {
    return Status::InvalidArgument("cannot read " + std::string(what) + " " + path + ": " + why);
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    // A flag may read stdin; a --batch-file line's payload_file may not.
    return fail(what.starts_with("--") ? "it is a directory; give a file, or - for stdin"
                                       : "it is a directory; give a file");
  }
  std::string bytes;
  char buf[64 << 10];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n > 0) {
      bytes.append(buf, static_cast<size_t>(n));
    } else if (n == 0) {
      break;
    } else if (errno != EINTR) {
      const int error = errno;
      ::close(fd);
      return fail(std::strerror(error));
    }
  }
  ::close(fd);
  return bytes;
}

std::string BackoffOrderProblem(uint32_t initial_ms, uint32_t max_ms, std::string_view initial,
                                std::string_view max) {
  if (initial_ms == 0 || max_ms == 0 || initial_ms <= max_ms) return {};
  return std::string(initial) + " " + std::to_string(initial_ms) + " is above " +
         std::string(max) + " " + std::to_string(max_ms) +
         ": the retry delay starts at the first and grows up to the second";
}

}  // namespace sluice::ctl
