#include "reference_markdown.h"

#include <CLI/CLI.hpp>
#include <cctype>
#include <sstream>
#include <string>
#include <vector>

namespace sluice::ctl {

namespace {

// Usage lines are wrapped before this many characters.
constexpr size_t kUsageWidth = 80;

// The CLI11 node of `path` ("dlq redrive") under `root`.
CLI::App* NodeOf(CLI::App& root, const std::string& path) {
  CLI::App* node = &root;
  std::istringstream words(path);
  for (std::string word; words >> word;) node = node->get_subcommand(word);
  return node;
}

// The command's positionals, then its flags, each in definition order;
// without --help.
std::vector<CLI::Option*> OptionsOf(CLI::App& cmd) {
  const CLI::Option* help = cmd.get_help_ptr();
  std::vector<CLI::Option*> options =
      cmd.get_options([help](CLI::Option* o) { return o != help && !o->nonpositional(); });
  for (CLI::Option* o : cmd.get_options([help](CLI::Option* o) { return o != help; })) {
    if (o->nonpositional()) options.push_back(o);
  }
  return options;
}

bool IsFlag(const CLI::Option& o) { return o.get_expected_max() == 0; }
bool IsRepeatable(const CLI::Option& o) { return o.get_items_expected_max() > 1; }

// "UINT" of "UINT:INT in [0 - 7]": the value's type without its checks.
std::string BaseType(const CLI::Option& o) {
  const std::string type = o.get_type_name();
  return type.substr(0, type.find(':'));
}

std::string Upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

// Plain text (help, summaries) as Markdown: "<" would start an HTML tag.
std::string Text(const std::string& text) {
  std::string escaped;
  for (char c : text) {
    if (c == '<') {
      escaped += "&lt;";
    } else {
      escaped += c;
    }
  }
  return escaped;
}

// Plain text in a table cell: also escapes the "|" that would end the cell.
std::string Cell(const std::string& text) {
  std::string cell;
  for (char c : Text(text)) {
    if (c == '|') cell += '\\';
    cell += c;
  }
  return cell;
}

// "--queue TEXT", "[--tenant TEXT]", "[--header TEXT]...", "[--all]", "ID",
// "[IDS...]", "TOKENS...".
std::string UsageWord(const CLI::Option& o) {
  std::string word;
  if (o.nonpositional()) {
    word = o.get_name();
    if (!IsFlag(o)) word += " " + BaseType(o);
    if (!o.get_required()) word = "[" + word + "]";
    if (IsRepeatable(o)) word += "...";
    return word;
  }
  word = Upper(o.get_name(/*positional=*/true));
  if (IsRepeatable(o)) word += "...";
  if (!o.get_required()) word = "[" + word + "]";
  return word;
}

// "sluicectl PATH POSITIONALS FLAGS" (`options` as OptionsOf orders them),
// wrapped under kUsageWidth with the continuation lines indented under the
// first argument.
std::string Usage(const std::string& path, const std::vector<CLI::Option*>& options) {
  std::vector<std::string> words;
  for (const CLI::Option* o : options) words.push_back(UsageWord(*o));
  const std::string head = "sluicectl " + path;
  std::string text = head;
  size_t line_length = head.size();
  for (const std::string& word : words) {
    if (line_length + 1 + word.size() > kUsageWidth && line_length > head.size()) {
      text += "\n" + std::string(head.size(), ' ');
      line_length = head.size();
    }
    text += " " + word;
    line_length += 1 + word.size();
  }
  return text;
}

// "`TEXT`, required", "`UINT:INT in [0 - 7]`", "flag", "`TEXT`, repeatable,
// excludes `--payload-file`".
std::string ValueCell(const CLI::Option& o) {
  std::vector<std::string> parts;
  parts.push_back(IsFlag(o) ? "flag" : "`" + o.get_type_name() + "`");
  if (o.get_required()) parts.emplace_back("required");
  if (IsRepeatable(o)) parts.emplace_back("repeatable");
  for (const CLI::Option* other : o.get_excludes()) {
    parts.push_back("excludes `" + other->get_name() + "`");
  }
  std::string cell;
  for (const std::string& part : parts) cell += (cell.empty() ? "" : ", ") + part;
  return Cell(cell);
}

// The value the command's Args start with; none for flags, lists and unset
// optionals.
std::string DefaultCell(CLI::Option& o) {
  if (IsFlag(o) || IsRepeatable(o) || o.get_required()) return "";
  o.capture_default_str();
  const std::string value = o.get_default_str();
  if (value.empty() || value == "[]") return "";
  return Cell("`" + value + "`");
}

// "per queue: ..." -> "Per queue: ...."
std::string Sentence(std::string summary) {
  if (!summary.empty()) {
    summary[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(summary[0])));
  }
  return summary + ".";
}

// `text` without the newlines that open and close it (a description written
// as R"md(\n...\n)md").
std::string Trimmed(const std::string& text) {
  const size_t begin = text.find_first_not_of('\n');
  if (begin == std::string::npos) return "";
  return text.substr(begin, text.find_last_not_of('\n') + 1 - begin);
}

std::string Anchor(const std::string& path) {
  std::string anchor;
  for (char c : path) anchor += c == ' ' ? '-' : c;
  return anchor;
}

void PrintIndex(const Registry& registry, std::ostream& out) {
  out << "| Command | What it does | With `--data-dir` |\n|---|---|---|\n";
  for (const Registry::Entry& e : registry.entries()) {
    if (!e.is_command()) continue;
    out << "| [`" << e.name << "`](#" << Anchor(e.name) << ") | " << Cell(e.summary) << " | "
        << (e.offline() ? "yes" : e.local() ? "no broker needed" : "") << " |\n";
  }
}

void PrintCommand(const Registry::Entry& e, CLI::App& cmd, std::ostream& out) {
  const std::vector<CLI::Option*> options = OptionsOf(cmd);
  out << "\n### " << e.name << "\n\n" << Text(Sentence(e.summary));
  if (e.offline()) out << " Also runs offline, on a stopped broker's store (`--data-dir`).";
  if (e.local()) out << " Runs here, without a broker.";
  out << "\n\n```\n" << Usage(e.name, options) << "\n```\n";
  if (!options.empty()) {
    out << "\n| Argument | Value | Default | Meaning |\n|---|---|---|---|\n";
    for (CLI::Option* o : options) {
      const std::string name =
          o->nonpositional() ? o->get_name() : Upper(o->get_name(/*positional=*/true));
      out << "| `" << name << "` | " << ValueCell(*o) << " | " << DefaultCell(*o) << " | "
          << Cell(o->get_description()) << " |\n";
    }
  }
  if (!Trimmed(e.description).empty()) out << '\n' << Trimmed(e.description) << '\n';
}

}  // namespace

void PrintReferenceMarkdown(const Registry& registry, CLI::App& root, std::ostream& out) {
  out << "<!-- Generated from tools/sluicectl/commands_*.cc by tools/gen_docs.sh"
         " (sluicectl help-markdown); edit the commands there, not here. -->\n\n"
         "## Commands\n\n";
  PrintIndex(registry, out);
  for (const Registry::Entry& e : registry.entries()) {
    switch (e.kind) {
      case Registry::Entry::Kind::kSection:
        out << "\n## " << e.name << '\n';
        if (!Trimmed(e.description).empty()) out << '\n' << Trimmed(e.description) << '\n';
        break;
      case Registry::Entry::Kind::kGroup:
        break;
      case Registry::Entry::Kind::kCommand:
        PrintCommand(e, *NodeOf(root, e.name), out);
        break;
    }
  }
  out << '\n';  // a blank line before what follows the reference
}

}  // namespace sluice::ctl
