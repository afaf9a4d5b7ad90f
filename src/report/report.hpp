// The static HTML report: a C++ description of a report (sections with a research question,
// a quote from the notes, figures, tables and a one-sentence measured answer) written as one
// folder whose index.html opens from disk with no network:
//   <out>/index.html          sections, answers above their figures, tables
//   <out>/fig-<id>.csv        the data rows of each figure (also inlined into the page)
//   <out>/table-<id>.csv      each table
//   <out>/assets/*.min.js     Vega, Vega-Lite, vega-embed (pinned; see docs/report.md)
//   <out>/assets/NOTICE.txt   their versions, licences and sha256
//   <out>/.lmlab-report       marker: only a folder carrying it is ever replaced
// Figures are Vega-Lite specs; builders below make the kinds the lab needs (line plots of
// loss curves, mean ± CI points over seeds, heatmaps, bar charts), and any hand-written spec
// can be used as is. The folder is built in a temp dir beside <out> and swapped in atomically.
// Not for: reading the results store (the caller turns runs into tables), or serving pages.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/table.hpp"

namespace lmlab::report {

enum class figure_kind { line, points_error, heatmap, bar, custom };
std::string_view figure_kind_name(figure_kind k);

// One positional channel of a figure: a column of the data and how to show it.
//   axis("step", "training step")   axis("d_model").log_scale()   axis("model").nominal()
//   axis("accuracy").with_domain(0, 1).with_format(".0%")
struct axis {
  std::string field;                   // column name in the figure's table
  std::string title;                   // axis title; empty: the field name
  std::string type = "quantitative";   // Vega-Lite type: quantitative, ordinal, nominal, temporal
  bool log = false;                    // log scale (quantitative only)
  std::string format;                  // d3-format for labels, e.g. ".2f", "~s"; empty: default
  std::optional<std::pair<double, double>> domain;  // fixed [min, max], e.g. accuracy in [0, 1]

  axis(std::string field_name, std::string axis_title = {})
      : field(std::move(field_name)), title(std::move(axis_title)) {}
  axis& nominal() { type = "nominal"; return *this; }
  axis& ordinal() { type = "ordinal"; return *this; }
  axis& log_scale() { log = true; return *this; }
  axis& with_format(std::string d3_format) { format = std::move(d3_format); return *this; }
  axis& with_domain(double lo, double hi) { domain = std::pair{lo, hi}; return *this; }
};

struct figure {
  std::string id;       // [a-z0-9][a-z0-9_-]*, unique in the report; data file fig-<id>.csv
  std::string title;
  std::string caption;  // optional sentence under the plot
  figure_kind kind = figure_kind::custom;
  nlohmann::json spec;  // Vega-Lite spec without "data"; the writer inlines the table's rows
  table data{{}};
};

// Line plot with one line per value of `series` (empty: a single line); e.g. loss against step.
figure line_plot(std::string id, std::string title, table data, axis x, axis y, std::string series = {});
// Points at `y` with error bars from `y_lo` to `y_hi` (e.g. mean and 95% CI over seeds),
// joined per series by a faint line.
figure error_bar_plot(std::string id, std::string title, table data, axis x, axis y, std::string y_lo,
                      std::string y_hi, std::string series = {});
// Heatmap of `value` over x × y cells (e.g. accuracy by length × model), values printed in cells.
figure heatmap(std::string id, std::string title, table data, axis x, axis y, axis value);
// Bar chart of y per category x, grouped side by side by `series` (empty: one bar per x).
figure bar_chart(std::string id, std::string title, table data, axis x, axis y, std::string series = {});
// Any Vega-Lite spec (without "data"); fields are not checked.
figure custom_figure(std::string id, std::string title, table data, nlohmann::json spec);

struct report_table {
  std::string id;  // same rules as figure ids; data file table-<id>.csv
  std::string title;
  table data{{}};
  std::string link_column = {};  // optional: a column whose non-empty cells are section ids, shown as links
};

// An experiment's verdict on a published result. `word` is exactly one of "agrees",
// "differs", "undecided (CI overlaps)" or "undecided: <reason>"; `detail` gives the numbers.
struct verdict {
  std::string word;
  std::string detail;
  std::string sentence() const;  // "Verdict: <word> — <detail>."
};

struct section {
  std::string id;            // anchor #<id> in the page
  std::string title;
  std::string question;      // the research question, in the caller's words
  std::string quote;         // verbatim from the notes, as given by the caller (may be empty)
  std::string quote_source;  // e.g. "shared/seed/notes.md, section 3"
  std::string answer;        // one measured sentence, shown prominently above the figures
  std::string comparison;    // optional: how this compares with published results
  std::string full_size;     // optional: the archived full size's verdict, why the quick size cannot decide
  std::string question_id;   // optional: the id in data/notes/questions.json this section answers
  std::optional<verdict> outcome;  // optional: the verdict inside `comparison`, for the map of the notes
  std::vector<figure> figures;
  std::vector<report_table> tables;
};

struct document {
  std::string title = "lmlab report";
  std::string subtitle;
  std::vector<std::pair<std::string, std::string>> provenance;  // (key, value): git, host, date...
  std::vector<section> sections;
};

// ---- assets ----------------------------------------------------------------------------

struct asset {
  std::string_view file;     // e.g. "vega.min.js"
  std::string_view package;  // npm package
  std::string_view version;  // exact version pinned
  std::string_view sha256;   // of the minified file
};
// The pinned browser builds, in the order the page loads them.
std::span<const asset> bundled_assets();
// $LMLAB_CACHE/report-assets (where scripts/fetch-report-assets.sh puts them).
std::filesystem::path default_assets_dir();
// Throws lmlab::error naming the first missing or altered file, with the fetch hint.
void check_assets(const std::filesystem::path& dir);

// ---- writing ---------------------------------------------------------------------------

struct write_options {
  std::filesystem::path assets_dir;  // empty: default_assets_dir()
};

struct write_result {
  std::filesystem::path index;
  std::size_t figures = 0;
  std::size_t tables = 0;
};

// Checks the document (ids, fields), renders it and swaps the folder into place at out_dir.
// An existing out_dir is replaced only if it holds the .lmlab-report marker.
write_result write_report(const document& doc, const std::filesystem::path& out_dir, const write_options& opt = {});

// The checks write_report does first: ids well-formed and unique, every field a figure's
// builder referenced is a column of its table. Throws lmlab::error naming section and figure.
void validate(const document& doc);

// index.html as a string (pure; used by write_report and the tests).
std::string render_index_html(const document& doc);
// The full Vega-Lite spec of a figure: its template plus "data": {"values": rows} and the
// report's shared look (fonts, axis sizes) unless the spec sets its own "config".
nlohmann::json full_spec(const figure& f);
// Rows of a table as JSON objects (numbers stay numbers, text stays text).
nlohmann::json table_rows_json(const table& t);

// Mean and Student-t CI of `value` per group (e.g. per model × step over seeds): columns are
// the group_by columns, then mean, lo, hi, n. A group with one row has lo = hi = mean.
table mean_ci_by_group(const table& rows, const std::vector<std::string>& group_by, const std::string& value,
                       double confidence = 0.95);

}  // namespace lmlab::report
