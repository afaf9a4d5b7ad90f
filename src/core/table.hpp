// Tabular output shared by every verb that prints results: a human-readable aligned table
// (default), Markdown, CSV, JSON (array of objects) or JSONL, chosen by `-o`.
// Cells keep their raw number for machine formats and a display string for people.
// Not for: the HTML report (report/), which reads the results store.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace lmlab {

enum class table_format { text, md, csv, json, jsonl };

// Parses "text|table|md|csv|json|jsonl"; error names `what`.
table_format parse_table_format(std::string_view s, std::string_view what = "-o");

struct cell {
  std::string text;               // what a person sees
  std::optional<double> number;   // what json/csv carry (full precision) when numeric
  bool is_integer = false;

  cell() = default;
  cell(const char* s) : text(s) {}
  cell(std::string s) : text(std::move(s)) {}
  cell(std::string_view s) : text(s) {}
  cell(double v);                                  // %.4g-style display
  cell(double v, std::string display);             // explicit display, raw value kept
  cell(std::int64_t v);
  cell(int v) : cell(static_cast<std::int64_t>(v)) {}
  cell(std::size_t v) : cell(static_cast<std::int64_t>(v)) {}
  cell(bool v) : text(v ? "yes" : "no") {}
};

// Human display of a double: 4 significant digits, engineering-friendly (1.234e+21, 0.5, 1234).
std::string format_number(double v, int significant = 4);

class table {
 public:
  explicit table(std::vector<std::string> columns) : columns_(std::move(columns)) {}
  void add_row(std::vector<cell> row);
  const std::vector<std::string>& columns() const { return columns_; }
  const std::vector<std::vector<cell>>& rows() const { return rows_; }
  void print(std::ostream& out, table_format fmt) const;
  std::string to_string(table_format fmt) const;

 private:
  std::vector<std::string> columns_;
  std::vector<std::vector<cell>> rows_;
};

}  // namespace lmlab
