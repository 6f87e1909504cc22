#include "table.h"

#include <algorithm>
#include <utility>

namespace sluice::ctl {

namespace {

bool IsNumeric(std::string_view cell) {
  if (cell == "-") return true;
  if (cell.empty()) return false;
  bool digit = false;
  for (char c : cell) {
    if (c >= '0' && c <= '9') {
      digit = true;
    } else if (c != '.' && c != '-' && c != '%') {
      return false;
    }
  }
  return digit;
}

}  // namespace

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

void Table::Print(std::ostream& out) const {
  const size_t n = headers_.size();
  std::vector<size_t> width(n);
  std::vector<bool> right(n, !rows_.empty());
  for (size_t c = 0; c < n; ++c) {
    width[c] = headers_[c].size();
    for (const auto& row : rows_) {
      width[c] = std::max(width[c], row[c].size());
      if (!IsNumeric(row[c])) right[c] = false;
    }
  }
  const auto print_row = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t c = 0; c < n; ++c) {
      const size_t pad = width[c] - cells[c].size();
      if (right[c]) line.append(pad, ' ');
      line.append(cells[c]);
      if (c + 1 < n) {
        if (!right[c]) line.append(pad, ' ');
        line.append("  ");
      }
    }
    out << line << '\n';
  };
  print_row(headers_);
  for (const auto& row : rows_) print_row(row);
}

std::string OneLine(std::string_view text, size_t max_chars) {
  std::string out;
  const bool cut = text.size() > max_chars;
  const size_t keep = cut ? (max_chars > 3 ? max_chars - 3 : 0) : text.size();
  out.reserve(keep + 3);
  for (size_t i = 0; i < keep; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    out.push_back(c < 0x20 || c == 0x7F ? ' ' : static_cast<char>(c));
  }
  if (cut) out.append("...");
  return out;
}

void PrintFields(std::ostream& out,
                 const std::vector<std::pair<std::string, std::string>>& fields) {
  size_t width = 0;
  for (const auto& [name, value] : fields) width = std::max(width, name.size());
  for (const auto& [name, value] : fields) {
    out << name << ':' << std::string(width - name.size() + 1, ' ') << value << '\n';
  }
}

}  // namespace sluice::ctl
