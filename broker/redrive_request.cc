#include "broker/redrive_request.h"

#include <string>

#include "broker/url_query.h"
#include "common/json_reader.h"
#include "core/engine.h"

namespace sluice::broker {
namespace {

constexpr std::string_view kFields = "id, ids, queue, tenant, limit, all";
constexpr uint64_t kMaxId = UINT64_MAX;

Status Unknown(std::string_view field) {
  return Status::InvalidArgument("unknown field \"" + std::string(field) + "\": a redrive takes " +
                                 std::string(kFields));
}

// The integer `field`: a JSON integer (form: its decimal text) in [min, max].
Result<uint64_t> JsonUint(std::string_view field, const JsonValue& v, uint64_t min, uint64_t max) {
  if (v.type() != JsonValue::Type::kNumber) {
    return Status::InvalidArgument(std::string(field) + " must be an integer, not " +
                                   std::string(DescribeJsonType(v)));
  }
  return ParseBoundedUint(field, v.text(), min, max);
}

Result<std::string> JsonName(std::string_view field, const JsonValue& v) {
  if (v.type() != JsonValue::Type::kString) {
    return Status::InvalidArgument(std::string(field) + " must be a string, not " +
                                   std::string(DescribeJsonType(v)));
  }
  return v.text();
}

Result<RedriveRequest> FromJson(std::string_view body, bool* all) {
  auto doc = ParseJson(body);
  if (!doc.ok()) {
    return Status::InvalidArgument("the body is not JSON (" + doc.status().message() +
                                   "): send an object such as {\"id\": 42}");
  }
  if (doc->type() != JsonValue::Type::kObject) {
    return Status::InvalidArgument("the body must be a JSON object such as {\"id\": 42}, not " +
                                   std::string(DescribeJsonType(*doc)));
  }
  RedriveRequest out;
  for (const JsonMember& m : doc->members()) {
    const JsonValue& v = m.value;
    if (m.key == "id") {
      auto id = JsonUint("id", v, 1, kMaxId);
      if (!id.ok()) return id.status();
      out.filter.ids.push_back(*id);
    } else if (m.key == "ids") {
      if (v.type() != JsonValue::Type::kArray) {
        return Status::InvalidArgument("ids must be an array of task ids, not " +
                                       std::string(DescribeJsonType(v)));
      }
      for (const JsonValue& item : v.items()) {
        auto id = JsonUint("each of ids", item, 1, kMaxId);
        if (!id.ok()) return id.status();
        out.filter.ids.push_back(*id);
      }
    } else if (m.key == "queue" || m.key == "tenant") {
      auto name = JsonName(m.key, v);
      if (!name.ok()) return name.status();
      (m.key == "queue" ? out.filter.queue : out.filter.tenant) = std::move(*name);
    } else if (m.key == "limit") {
      auto limit = JsonUint("limit", v, 1, core::Engine::kMaxDeadPage);
      if (!limit.ok()) return limit.status();
      out.limit = *limit;
    } else if (m.key == "all") {
      if (v.type() != JsonValue::Type::kBool) {
        return Status::InvalidArgument("all must be true or false, not " +
                                       std::string(DescribeJsonType(v)));
      }
      *all = v.boolean();
    } else {
      return Unknown(m.key);
    }
  }
  return out;
}

Result<RedriveRequest> FromForm(std::string_view body, bool* all) {
  auto form = QueryParams::Parse(body);
  if (!form.ok()) return form.status();
  RedriveRequest out;
  for (const auto& [key, value] : form->pairs()) {
    if (key == "id" || key == "ids") {
      std::string_view rest = value;
      while (true) {
        const size_t comma = rest.find(',');
        auto id = ParseBoundedUint(key, rest.substr(0, comma), 1, kMaxId);
        if (!id.ok()) return id.status();
        out.filter.ids.push_back(*id);
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
    } else if (key == "queue") {
      out.filter.queue = value;
    } else if (key == "tenant") {
      out.filter.tenant = value;
    } else if (key == "limit") {
      auto limit = ParseBoundedUint("limit", value, 1, core::Engine::kMaxDeadPage);
      if (!limit.ok()) return limit.status();
      out.limit = *limit;
    } else if (key == "all") {
      if (value != "true" && value != "false") {
        return Status::InvalidArgument("all must be true or false");
      }
      *all = value == "true";
    } else if (key.starts_with('{')) {
      // curl -d sends a form unless told otherwise.
      return Status::InvalidArgument(
          "the body is JSON but came as a form: send it with Content-Type: application/json");
    } else {
      return Unknown(key);
    }
  }
  return out;
}

}  // namespace

Result<RedriveRequest> ParseRedriveRequest(std::string_view content_type, std::string_view body) {
  bool all = false;
  const std::string_view media = content_type.substr(0, content_type.find(';'));
  auto parsed =
      media == "application/x-www-form-urlencoded" ? FromForm(body, &all) : FromJson(body, &all);
  if (!parsed.ok()) return parsed;
  const core::DeadFilter& f = parsed->filter;
  if (f.ids.empty() && f.queue.empty() && f.tenant.empty() && !all) {
    return Status::InvalidArgument(
        "select dead letters: give id or ids, a queue and/or a tenant, or all=true");
  }
  if (f.ids.size() > core::Engine::kMaxDeadPage) {
    return Status::InvalidArgument("at most " + std::to_string(core::Engine::kMaxDeadPage) +
                                   " ids per redrive: send the rest in another request");
  }
  if (parsed->limit == 0) parsed->limit = core::Engine::kMaxDeadPage;
  return parsed;
}

}  // namespace sluice::broker
