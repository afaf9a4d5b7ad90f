// Figure builders (Vega-Lite specs for the kinds the lab plots), the data inlining that turns
// a template into a full spec, document validation, and per-group mean ± CI tables.
#include <algorithm>
#include <cmath>
#include <map>
#include <regex>
#include <set>

#include "analysis/stats.hpp"
#include "core/error.hpp"
#include "report/report.hpp"

namespace lmlab::report {

using nlohmann::json;

std::string_view figure_kind_name(figure_kind k) {
  switch (k) {
    case figure_kind::line: return "line";
    case figure_kind::points_error: return "points_error";
    case figure_kind::heatmap: return "heatmap";
    case figure_kind::bar: return "bar";
    case figure_kind::custom: return "custom";
  }
  return "custom";
}

namespace {

constexpr int kWidth = 640;
constexpr int kHeight = 300;

void check_field(const figure& f, const std::string& field, const char* role) {
  const auto& cols = f.data.columns();
  if (std::find(cols.begin(), cols.end(), field) != cols.end()) return;
  std::string list;
  for (const auto& c : cols) list += (list.empty() ? "" : ", ") + c;
  throw error(fmt::format("report: figure '{}': {} field '{}' is not a column of its data (columns: {})", f.id, role,
                          field, list),
              "pass the column name exactly as in the table header");
}

void check_type(const figure& f, const axis& a, const char* role) {
  static const std::set<std::string> ok = {"quantitative", "ordinal", "nominal", "temporal"};
  LMLAB_CHECK_HINT(ok.count(a.type), "use quantitative, ordinal, nominal or temporal",
                   "report: figure '{}': {} axis type '{}' is not a Vega-Lite type", f.id, role, a.type);
  LMLAB_CHECK(!a.log || a.type == "quantitative", "report: figure '{}': {} axis '{}' is log-scaled but {}", f.id, role,
              a.field, a.type);
}

json encode(const axis& a, bool zero) {
  json e = {{"field", a.field}, {"type", a.type}, {"title", a.title.empty() ? a.field : a.title}};
  if (a.type == "quantitative") {
    if (a.log) {
      // Exact data extent plus padding: a "nice" log domain can add empty decades.
      e["scale"]["type"] = "log";
      e["scale"]["nice"] = false;
      e["scale"]["padding"] = 16;
    }
    else if (!zero) e["scale"]["zero"] = false;
  }
  if (a.domain) e["scale"]["domain"] = {a.domain->first, a.domain->second};
  if (!a.format.empty()) e["axis"]["format"] = a.format;
  return e;
}

json color_of(const std::string& series) {
  return {{"field", series}, {"type", "nominal"}, {"title", series}};
}

json tooltip(const table& t) {
  json tips = json::array();
  for (const auto& c : t.columns()) tips.push_back({{"field", c}});
  return tips;
}

// A log axis over a few distinct values (d_model 64, 128, 256) is labelled at exactly those.
void ticks_at_data(const figure& f, const axis& a, json& enc) {
  if (!a.log) return;
  const auto& cols = f.data.columns();
  const auto j = static_cast<std::size_t>(std::find(cols.begin(), cols.end(), a.field) - cols.begin());
  std::set<double> values;
  for (const auto& r : f.data.rows())
    if (r[j].number && *r[j].number > 0) values.insert(*r[j].number);
  if (!values.empty() && values.size() <= 12) enc["axis"]["values"] = std::vector<double>(values.begin(), values.end());
}

figure start(std::string id, std::string title, table data, figure_kind kind) {
  figure f;
  f.id = std::move(id);
  f.title = std::move(title);
  f.data = std::move(data);
  f.kind = kind;
  return f;
}

}  // namespace

figure line_plot(std::string id, std::string title, table data, axis x, axis y, std::string series) {
  figure f = start(std::move(id), std::move(title), std::move(data), figure_kind::line);
  check_field(f, x.field, "x");
  check_field(f, y.field, "y");
  check_type(f, x, "x");
  check_type(f, y, "y");
  json enc = {{"x", encode(x, false)}, {"y", encode(y, false)}, {"tooltip", tooltip(f.data)}};
  ticks_at_data(f, x, enc["x"]);
  ticks_at_data(f, y, enc["y"]);
  if (!series.empty()) {
    check_field(f, series, "series");
    enc["color"] = color_of(series);
  }
  f.spec = {{"width", kWidth}, {"height", kHeight},
            {"mark", {{"type", "line"}, {"strokeWidth", 2}, {"point", false}}}, {"encoding", enc}};
  return f;
}

figure error_bar_plot(std::string id, std::string title, table data, axis x, axis y, std::string y_lo,
                      std::string y_hi, std::string series) {
  figure f = start(std::move(id), std::move(title), std::move(data), figure_kind::points_error);
  check_field(f, x.field, "x");
  check_field(f, y.field, "y");
  check_field(f, y_lo, "y_lo");
  check_field(f, y_hi, "y_hi");
  check_type(f, x, "x");
  check_type(f, y, "y");
  json ex = encode(x, false);
  ticks_at_data(f, x, ex);
  json ey = encode(y, false);
  json lo = ey;
  lo["field"] = y_lo;
  json common = {{"x", ex}};
  if (!series.empty()) {
    check_field(f, series, "series");
    common["color"] = color_of(series);
    common["color"]["legend"] = {{"symbolOpacity", 1}};  // solid swatches, not the faint line's opacity
  }
  json line_enc = common, bar_enc = common, point_enc = common;
  line_enc["y"] = ey;
  bar_enc["y"] = lo;
  bar_enc["y2"] = {{"field", y_hi}};
  point_enc["y"] = ey;
  point_enc["tooltip"] = tooltip(f.data);
  f.spec = {{"width", kWidth},
            {"height", kHeight},
            {"layer",
             {{{"mark", {{"type", "line"}, {"opacity", 0.35}, {"strokeWidth", 1.5}}}, {"encoding", line_enc}},
              {{"mark", {{"type", "errorbar"}, {"ticks", true}, {"thickness", 1.5}}}, {"encoding", bar_enc}},
              {{"mark", {{"type", "point"}, {"filled", true}, {"size", 64}, {"opacity", 1}}}, {"encoding", point_enc}}}}};
  return f;
}

figure heatmap(std::string id, std::string title, table data, axis x, axis y, axis value) {
  figure f = start(std::move(id), std::move(title), std::move(data), figure_kind::heatmap);
  check_field(f, x.field, "x");
  check_field(f, y.field, "y");
  check_field(f, value.field, "value");
  if (x.type == "quantitative") x.type = "ordinal";  // cells, not a continuous axis
  if (y.type == "quantitative") y.type = "ordinal";
  check_type(f, x, "x");
  check_type(f, y, "y");
  // Cell text is white on the dark half of viridis (low values), black on the light half.
  double lo = 0, hi = 1;
  if (value.domain) {
    std::tie(lo, hi) = *value.domain;
  } else {
    const auto& cols = f.data.columns();
    const auto j = static_cast<std::size_t>(std::find(cols.begin(), cols.end(), value.field) - cols.begin());
    lo = INFINITY, hi = -INFINITY;
    for (const auto& r : f.data.rows())
      if (r[j].number && std::isfinite(*r[j].number)) lo = std::min(lo, *r[j].number), hi = std::max(hi, *r[j].number);
    if (!(lo <= hi)) lo = 0, hi = 1;
  }
  const std::string value_format = value.format.empty() ? ".2f" : value.format;
  json color = {{"field", value.field},
                {"type", "quantitative"},
                {"title", value.title.empty() ? value.field : value.title},
                {"scale", {{"scheme", "viridis"}}},
                {"legend", {{"format", value_format}}}};
  if (value.domain) color["scale"]["domain"] = {lo, hi};
  const json field_ref = json(value.field).dump();  // JSON string literal doubles as a JS one
  const json rect_layer = {{"mark", {{"type", "rect"}, {"stroke", "white"}, {"strokeWidth", 1}}},
                           {"encoding", {{"color", color}, {"tooltip", tooltip(f.data)}}}};
  const json text_color = {
      {"condition", {{"test", fmt::format("datum[{}] < {}", field_ref, (lo + hi) / 2)}, {"value", "white"}}},
      {"value", "black"}};
  const json text_layer = {
      {"mark", {{"type", "text"}, {"fontSize", 11}}},
      {"encoding",
       {{"text", {{"field", value.field}, {"type", "quantitative"}, {"format", value_format}}}, {"color", text_color}}}};
  json hx = encode(x, true);
  hx["axis"]["labelAngle"] = 0;
  f.spec = {{"width", {{"step", 56}}},
            {"height", {{"step", 34}}},
            {"encoding", {{"x", hx}, {"y", encode(y, true)}}},
            {"layer", json::array({rect_layer, text_layer})},
            {"config", {{"axis", {{"grid", false}}}}}};
  return f;
}

figure bar_chart(std::string id, std::string title, table data, axis x, axis y, std::string series) {
  figure f = start(std::move(id), std::move(title), std::move(data), figure_kind::bar);
  check_field(f, x.field, "x");
  check_field(f, y.field, "y");
  if (x.type == "quantitative") x.type = "nominal";  // one bar per category
  check_type(f, x, "x");
  check_type(f, y, "y");
  json enc = {{"x", encode(x, true)}, {"y", encode(y, true)}, {"tooltip", tooltip(f.data)}};
  enc["x"]["axis"]["labelAngle"] = 0;
  if (!series.empty()) {
    check_field(f, series, "series");
    enc["color"] = color_of(series);
    enc["xOffset"] = {{"field", series}, {"type", "nominal"}};
  }
  f.spec = {{"width", kWidth}, {"height", kHeight}, {"mark", {{"type", "bar"}}}, {"encoding", enc}};
  return f;
}

figure custom_figure(std::string id, std::string title, table data, json spec) {
  figure f = start(std::move(id), std::move(title), std::move(data), figure_kind::custom);
  LMLAB_CHECK(spec.is_object(), "report: figure '{}': a Vega-Lite spec must be a JSON object", f.id);
  LMLAB_CHECK_HINT(!spec.contains("data"), "leave \"data\" out: the writer inlines the figure's table",
                   "report: figure '{}': spec already has \"data\"", f.id);
  f.spec = std::move(spec);
  return f;
}

json table_rows_json(const table& t) {
  json rows = json::array();
  const auto& cols = t.columns();
  for (const auto& r : t.rows()) {
    json o = json::object();
    for (std::size_t j = 0; j < cols.size(); ++j) {
      const cell& c = r[j];
      if (!c.number) o[cols[j]] = c.text;
      else if (c.is_integer) o[cols[j]] = static_cast<std::int64_t>(*c.number);
      else if (std::isfinite(*c.number)) o[cols[j]] = *c.number;
      else o[cols[j]] = nullptr;  // Vega treats null as missing; NaN is not JSON
    }
    rows.push_back(std::move(o));
  }
  return rows;
}

json full_spec(const figure& f) {
  json spec = f.spec;
  spec["$schema"] = "https://vega.github.io/schema/vega-lite/v5.json";  // an identifier, never fetched
  spec["data"] = {{"values", table_rows_json(f.data)}};
  // The report's look; a spec's own config entries win.
  json config = {
      {"font", "system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans', 'DejaVu Sans', Arial, sans-serif"},
      {"view", {{"stroke", nullptr}}},
      {"axis",
       {{"labelFontSize", 12}, {"titleFontSize", 13}, {"titleFontWeight", 600}, {"titlePadding", 8},
        {"labelColor", "#333"}, {"titleColor", "#222"}, {"gridColor", "#e6e6e6"}, {"domainColor", "#888"},
        {"tickColor", "#888"}}},
      {"legend", {{"labelFontSize", 12}, {"titleFontSize", 12}, {"titleFontWeight", 600}}},
      {"range", {{"category", {{"scheme", "tableau10"}}}}}};
  if (spec.contains("config")) config.merge_patch(spec["config"]);
  spec["config"] = config;
  return spec;
}

namespace {
// Every {"field": "..."} inside "encoding" objects of a builder-made spec (custom specs may
// derive fields with transforms, so they are not checked).
void collect_fields(const json& j, bool in_encoding, std::vector<std::string>& out) {
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) {
      if (in_encoding && k == "field" && v.is_string()) out.push_back(v.get<std::string>());
      collect_fields(v, in_encoding || k == "encoding", out);
    }
  } else if (j.is_array()) {
    for (const auto& v : j) collect_fields(v, in_encoding, out);
  }
}
}  // namespace

void validate(const document& doc) {
  static const std::regex id_re("[a-z0-9][a-z0-9_-]*");
  std::set<std::string> section_ids, file_ids;
  for (const auto& s : doc.sections) {
    LMLAB_CHECK_HINT(std::regex_match(s.id, id_re), "ids are lower-case letters, digits, '-' and '_'",
                     "report: section '{}': id '{}' is not a valid id", s.title, s.id);
    LMLAB_CHECK(section_ids.insert(s.id).second, "report: section id '{}' is used twice", s.id);
    LMLAB_CHECK_HINT(!s.answer.empty(), "every section states its measured answer in one sentence",
                     "report: section '{}': answer is empty", s.id);
    for (const auto& f : s.figures) {
      LMLAB_CHECK_HINT(std::regex_match(f.id, id_re), "ids are lower-case letters, digits, '-' and '_'",
                       "report: section '{}': figure id '{}' is not a valid id", s.id, f.id);
      LMLAB_CHECK(file_ids.insert("fig-" + f.id).second, "report: section '{}': figure id '{}' is used twice", s.id,
                  f.id);
      LMLAB_CHECK(f.spec.is_object() && !f.spec.empty(), "report: section '{}': figure '{}' has no spec", s.id, f.id);
      if (f.kind != figure_kind::custom) {
        std::vector<std::string> fields;
        collect_fields(f.spec, false, fields);
        for (const auto& fld : fields) check_field(f, fld, "encoded");
      }
    }
    for (const auto& t : s.tables) {
      LMLAB_CHECK_HINT(std::regex_match(t.id, id_re), "ids are lower-case letters, digits, '-' and '_'",
                       "report: section '{}': table id '{}' is not a valid id", s.id, t.id);
      LMLAB_CHECK(file_ids.insert("table-" + t.id).second, "report: section '{}': table id '{}' is used twice", s.id,
                  t.id);
    }
  }
}

table mean_ci_by_group(const table& rows, const std::vector<std::string>& group_by, const std::string& value,
                       double confidence) {
  const auto& cols = rows.columns();
  auto index_of = [&](const std::string& name) {
    const auto it = std::find(cols.begin(), cols.end(), name);
    LMLAB_CHECK(it != cols.end(), "mean_ci_by_group: column '{}' not in the table", name);
    return static_cast<std::size_t>(it - cols.begin());
  };
  std::vector<std::size_t> key_cols;
  for (const auto& g : group_by) key_cols.push_back(index_of(g));
  const std::size_t vcol = index_of(value);
  // Groups in order of first appearance, so the caller's ordering (steps, sizes) survives.
  std::vector<std::vector<std::size_t>> groups;
  std::map<std::vector<std::string>, std::size_t> where;
  for (std::size_t i = 0; i < rows.rows().size(); ++i) {
    std::vector<std::string> key;
    for (auto j : key_cols) key.push_back(rows.rows()[i][j].text);
    auto [it, inserted] = where.try_emplace(key, groups.size());
    if (inserted) groups.emplace_back();
    groups[it->second].push_back(i);
  }
  std::vector<std::string> out_cols = group_by;
  for (const char* c : {"mean", "lo", "hi", "n"}) out_cols.emplace_back(c);
  table out(out_cols);
  for (const auto& g : groups) {
    std::vector<double> v;
    for (auto i : g) {
      const cell& c = rows.rows()[i][vcol];
      LMLAB_CHECK(c.number.has_value(), "mean_ci_by_group: column '{}' row {} is not a number: '{}'", value, i, c.text);
      v.push_back(*c.number);
    }
    std::vector<cell> r;
    for (auto j : key_cols) r.push_back(rows.rows()[g.front()][j]);
    if (v.size() >= 2) {
      const auto ci = analysis::mean_ci(v, confidence);
      r.insert(r.end(), {cell(ci.estimate), cell(ci.lo), cell(ci.hi)});
    } else {
      r.insert(r.end(), {cell(v[0]), cell(v[0]), cell(v[0])});
    }
    r.emplace_back(v.size());
    out.add_row(std::move(r));
  }
  return out;
}

}  // namespace lmlab::report
