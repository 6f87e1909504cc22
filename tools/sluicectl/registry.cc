#include "registry.h"

#include <CLI/CLI.hpp>
#include <cassert>
#include <map>

namespace sluice::ctl {

namespace {

// "dlq redrive" -> {"dlq", "redrive"}; "stats" -> {"", "stats"}.
std::pair<std::string, std::string> SplitLast(const std::string& path) {
  const size_t space = path.rfind(' ');
  if (space == std::string::npos) return {"", path};
  return {path.substr(0, space), path.substr(space + 1)};
}

}  // namespace

void Registry::AddSection(std::string title, std::string description) {
  Entry e;
  e.kind = Entry::Kind::kSection;
  e.name = std::move(title);
  e.description = std::move(description);
  entries_.push_back(std::move(e));
}

void Registry::AddGroup(std::string path, std::string summary) {
  Entry e;
  e.kind = Entry::Kind::kGroup;
  e.name = std::move(path);
  e.summary = std::move(summary);
  AddEntry(std::move(e));
}

void Registry::AddEntry(Entry entry) {
  for ([[maybe_unused]] const Entry& e : entries_) {
    assert(e.kind == Entry::Kind::kSection || e.name != entry.name);
  }
  assert(!entry.is_command() || entry.run || entry.run_local);
  entries_.push_back(std::move(entry));
}

std::vector<std::string> Registry::OfflinePaths() const {
  std::vector<std::string> paths;
  for (const Entry& e : entries_) {
    if (e.is_command() && e.offline()) paths.push_back(e.name);
  }
  return paths;
}

void Registry::Define(CLI::App& root, std::function<void(const Entry&)> on_selected) const {
  const auto selected = std::make_shared<std::function<void(const Entry&)>>(std::move(on_selected));
  std::map<std::string, CLI::App*, std::less<>> nodes = {{"", &root}};
  // The CLI11 node of group `path`, created (with no summary) if missing.
  std::function<CLI::App*(const std::string&)> group = [&](const std::string& path) {
    if (auto it = nodes.find(path); it != nodes.end()) return it->second;
    const auto [parent, word] = SplitLast(path);
    CLI::App* node = group(parent)->add_subcommand(word, "")->require_subcommand(1);
    nodes.emplace(path, node);
    return node;
  };
  for (const Entry& e : entries_) {
    if (e.kind == Entry::Kind::kSection) continue;
    const auto [parent, word] = SplitLast(e.name);
    CLI::App* node = group(parent)->add_subcommand(word, e.summary);
    nodes.emplace(e.name, node);
    if (e.kind == Entry::Kind::kGroup) {
      node->require_subcommand(1);
      continue;
    }
    node->callback([selected, &e] { (*selected)(e); });
    if (e.define) e.define(*node);
  }
}

}  // namespace sluice::ctl
