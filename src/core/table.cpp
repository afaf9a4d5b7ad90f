// Tabular output: see table.hpp.
#include "core/table.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/error.hpp"

namespace lmlab {

table_format parse_table_format(std::string_view s, std::string_view what) {
  if (s == "text" || s == "table") return table_format::text;
  if (s == "md" || s == "markdown") return table_format::md;
  if (s == "csv") return table_format::csv;
  if (s == "json") return table_format::json;
  if (s == "jsonl") return table_format::jsonl;
  throw usage_error(fmt::format("{}: unknown output format '{}'", what, s), "use one of text, md, csv, json, jsonl");
}

std::string format_number(double v, int significant) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  const double a = std::abs(v);
  if (a != 0.0 && (a >= 1e7 || a < 1e-3)) return fmt::format("{:.{}e}", v, significant - 1);
  if (a == std::floor(a) && a < 1e7) return fmt::format("{:.0f}", v);
  std::string s = fmt::format("{:.{}g}", v, std::max(significant, 1 + static_cast<int>(std::floor(std::log10(std::max(a, 1e-300))))));
  return s;
}

cell::cell(double v) : text(format_number(v)), number(v) {}
cell::cell(double v, std::string display) : text(std::move(display)), number(v) {}
cell::cell(std::int64_t v) : text(std::to_string(v)), number(static_cast<double>(v)), is_integer(true) {}

void table::add_row(std::vector<cell> row) {
  LMLAB_ASSERT(row.size() == columns_.size(), "table row has {} cells, {} columns", row.size(), columns_.size());
  rows_.push_back(std::move(row));
}

namespace {

std::string csv_escape(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

nlohmann::ordered_json cell_json(const cell& c) {
  if (c.number) {
    if (c.is_integer) return static_cast<std::int64_t>(*c.number);
    if (std::isfinite(*c.number)) return *c.number;
    return nullptr;
  }
  return c.text;
}

std::string raw_text(const cell& c) {
  if (!c.number) return c.text;
  if (c.is_integer) return std::to_string(static_cast<std::int64_t>(*c.number));
  return fmt::format("{}", *c.number);  // shortest round-trip representation
}

}  // namespace

void table::print(std::ostream& out, table_format f) const {
  switch (f) {
    case table_format::text:
    case table_format::md: {
      std::vector<std::size_t> w(columns_.size());
      for (std::size_t j = 0; j < columns_.size(); ++j) {
        w[j] = columns_[j].size();
        for (const auto& r : rows_) w[j] = std::max(w[j], r[j].text.size());
      }
      auto line = [&](auto get, bool numeric_right) {
        if (f == table_format::md) out << "|";
        for (std::size_t j = 0; j < columns_.size(); ++j) {
          const auto [s, right] = get(j);
          const std::size_t pad = w[j] - s.size();
          out << (f == table_format::md ? " " : (j ? "  " : ""));
          if (right && numeric_right) out << std::string(pad, ' ') << s;
          else out << s << std::string(pad, ' ');
          if (f == table_format::md) out << " |";
        }
        out << "\n";
      };
      line([&](std::size_t j) { return std::pair<std::string, bool>(columns_[j], false); }, false);
      if (f == table_format::md) {
        out << "|";
        for (std::size_t j = 0; j < columns_.size(); ++j) out << std::string(w[j] + 2, '-') << "|";
        out << "\n";
      } else {
        for (std::size_t j = 0; j < columns_.size(); ++j) out << (j ? "  " : "") << std::string(w[j], '-');
        out << "\n";
      }
      for (const auto& r : rows_)
        line([&](std::size_t j) { return std::pair<std::string, bool>(r[j].text, r[j].number.has_value()); }, true);
      break;
    }
    case table_format::csv: {
      for (std::size_t j = 0; j < columns_.size(); ++j) out << (j ? "," : "") << csv_escape(columns_[j]);
      out << "\n";
      for (const auto& r : rows_) {
        for (std::size_t j = 0; j < columns_.size(); ++j) out << (j ? "," : "") << csv_escape(raw_text(r[j]));
        out << "\n";
      }
      break;
    }
    case table_format::json:
    case table_format::jsonl: {
      if (f == table_format::jsonl) {
        for (const auto& r : rows_) {
          nlohmann::ordered_json o;
          for (std::size_t j = 0; j < columns_.size(); ++j) o[columns_[j]] = cell_json(r[j]);
          out << o.dump() << "\n";
        }
      }
      if (f == table_format::json) {
        nlohmann::ordered_json oa = nlohmann::ordered_json::array();
        for (const auto& r : rows_) {
          nlohmann::ordered_json o;
          for (std::size_t j = 0; j < columns_.size(); ++j) o[columns_[j]] = cell_json(r[j]);
          oa.push_back(std::move(o));
        }
        out << oa.dump(2) << "\n";
      }
      break;
    }
  }
}

std::string table::to_string(table_format f) const {
  std::ostringstream s;
  print(s, f);
  return s.str();
}

}  // namespace lmlab
