#include "dlq_filter.h"

namespace sluice::ctl {

client::DlqFilter ToClientFilter(const DlqFilterArgs& args) {
  client::DlqFilter filter;
  filter.queue = args.queue;
  filter.tenant = args.tenant;
  if (!args.reason.empty()) filter.reason = client::ParseDeadReason(args.reason);
  filter.error_contains = args.error_contains;
  return filter;
}

bool IsEmpty(const client::DlqFilter& filter) {
  return filter.queue.empty() && filter.tenant.empty() && !filter.reason.has_value() &&
         filter.error_contains.empty();
}

bool Matches(const client::DlqFilter& filter, const client::DlqEntry& entry) {
  if (!filter.queue.empty() && filter.queue != entry.queue) return false;
  if (!filter.tenant.empty() && filter.tenant != entry.tenant) return false;
  if (filter.reason && *filter.reason != entry.reason) return false;
  if (!filter.error_contains.empty() &&
      entry.last_error.find(filter.error_contains) == std::string::npos) {
    return false;
  }
  return true;
}

}  // namespace sluice::ctl
