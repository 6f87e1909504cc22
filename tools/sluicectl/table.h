// Table: aligned text columns for the human output of sluicectl.
//
//   Table t({"QUEUE", "READY"});
//   t.AddRow({"jobs", "12"});
//   t.Print(std::cout);
//
//   QUEUE  READY
//   jobs      12
//
// A column whose cells are all numbers (or "-") is right-aligned, every other
// column left-aligned; columns are separated by two spaces and the last
// column has no trailing padding. Cells are printed as given: callers pass
// text without newlines (see OneLine()).
#pragma once

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::ctl {

class Table {
 public:
  explicit Table(std::vector<std::string> headers);

  // A row with fewer cells than headers is padded with empty cells; extra
  // cells are a programming error (dropped).
  void AddRow(std::vector<std::string> cells);
  bool empty() const { return rows_.empty(); }

  void Print(std::ostream& out) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// `text` on one line for a table cell: control characters become spaces, and
// it is cut to at most `max_chars` bytes with "..." at the end when longer.
std::string OneLine(std::string_view text, size_t max_chars);

// Prints "name: value" lines with the values aligned after the longest name.
void PrintFields(std::ostream& out,
                 const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace sluice::ctl
