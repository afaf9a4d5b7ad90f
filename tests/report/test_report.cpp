// The report writer without a browser: specs the builders make, validation errors, HTML
// escaping, the folder layout, CSVs, atomic replacement and the asset checks.
#include "report/report.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "scratch.hpp"
#include "sample_report.hpp"

namespace fs = std::filesystem;
namespace rp = lmlab::report;
using nlohmann::json;

namespace {

using lmlab::report::testing::error_of;
using lmlab::report::testing::fresh_dir;

// Tests that write a folder need the pinned chart library in the cache.
void require_assets() {
  try {
    rp::check_assets(rp::default_assets_dir());
  } catch (const lmlab::error& e) {
    FAIL() << e.what() << "\nhint: " << e.hint();
  }
}

lmlab::table xy_table() {
  lmlab::table t({"step", "loss", "model"});
  t.add_row({0, 2.5, "a"});
  t.add_row({10, 1.25, "a"});
  return t;
}
}  // namespace

TEST(report_figures, line_plot_spec) {
  const auto f = rp::line_plot("loss", "Loss", xy_table(), rp::axis("step"), rp::axis("loss", "nats"), "model");
  EXPECT_EQ(f.kind, rp::figure_kind::line);
  EXPECT_EQ(f.spec["mark"]["type"], "line");
  EXPECT_EQ(f.spec["encoding"]["x"], json::parse(R"({"field":"step","type":"quantitative","title":"step","scale":{"zero":false}})"));
  EXPECT_EQ(f.spec["encoding"]["y"]["title"], "nats");
  EXPECT_EQ(f.spec["encoding"]["color"]["field"], "model");
  const json full = rp::full_spec(f);
  EXPECT_EQ(full["data"]["values"], json::parse(R"([{"step":0,"loss":2.5,"model":"a"},{"step":10,"loss":1.25,"model":"a"}])"));
  EXPECT_EQ(full["config"]["axis"]["labelFontSize"], 12);
}

TEST(report_figures, error_bar_heatmap_bar_specs) {
  lmlab::table t({"d", "mean", "lo", "hi", "m"});
  t.add_row({64, 0.5, 0.4, 0.6, "x"});
  t.add_row({128, 0.7, 0.65, 0.75, "x"});
  const auto e = rp::error_bar_plot("e", "E", t, rp::axis("d").log_scale(), rp::axis("mean"), "lo", "hi", "m");
  ASSERT_EQ(e.spec["layer"].size(), 3u);
  EXPECT_EQ(e.spec["layer"][1]["mark"]["type"], "errorbar");
  EXPECT_EQ(e.spec["layer"][1]["encoding"]["y"]["field"], "lo");
  EXPECT_EQ(e.spec["layer"][1]["encoding"]["y2"]["field"], "hi");
  EXPECT_EQ(e.spec["layer"][2]["encoding"]["x"]["scale"]["type"], "log");

  const auto h = rp::heatmap("h", "H", t, rp::axis("d"), rp::axis("m").nominal(), rp::axis("mean"));
  EXPECT_EQ(h.spec["encoding"]["x"]["type"], "ordinal");  // quantitative lengths become cells
  EXPECT_EQ(h.spec["layer"][0]["mark"]["type"], "rect");
  // No domain given: the text colour flips at the midpoint of the data, (0.5 + 0.7) / 2.
  EXPECT_EQ(h.spec["layer"][1]["encoding"]["color"]["condition"]["test"], "datum[\"mean\"] < 0.6");

  const auto b = rp::bar_chart("b", "B", t, rp::axis("m"), rp::axis("mean"), "d");
  EXPECT_EQ(b.spec["encoding"]["x"]["type"], "nominal");
  EXPECT_EQ(b.spec["encoding"]["xOffset"]["field"], "d");
}

TEST(report_figures, errors_name_figure_and_field) {
  EXPECT_EQ(error_of([] { rp::line_plot("loss", "L", xy_table(), rp::axis("stepp"), rp::axis("loss")); }),
            "report: figure 'loss': x field 'stepp' is not a column of its data (columns: step, loss, model) "
            "[hint: pass the column name exactly as in the table header]");
  EXPECT_EQ(error_of([] { rp::line_plot("loss", "L", xy_table(), rp::axis("model").nominal().log_scale(), rp::axis("loss")); }),
            "report: figure 'loss': x axis 'model' is log-scaled but nominal");
  EXPECT_EQ(error_of([] { rp::custom_figure("c", "C", xy_table(), json{{"data", 1}}); }),
            "report: figure 'c': spec already has \"data\" [hint: leave \"data\" out: the writer inlines the figure's table]");
}

TEST(report_validate, ids_answers_and_duplicates) {
  rp::document doc;
  rp::section s;
  s.id = "Bad Id";
  s.answer = "x";
  doc.sections.push_back(s);
  EXPECT_EQ(error_of([&] { rp::validate(doc); }),
            "report: section '': id 'Bad Id' is not a valid id [hint: ids are lower-case letters, digits, '-' and '_']");
  doc.sections[0].id = "ok";
  doc.sections[0].answer.clear();
  EXPECT_EQ(error_of([&] { rp::validate(doc); }),
            "report: section 'ok': answer is empty [hint: every section states its measured answer in one sentence]");
  doc.sections[0].answer = "It does.";
  doc.sections[0].figures.push_back(rp::line_plot("f", "F", xy_table(), rp::axis("step"), rp::axis("loss")));
  doc.sections[0].figures.push_back(rp::line_plot("f", "F", xy_table(), rp::axis("step"), rp::axis("loss")));
  EXPECT_EQ(error_of([&] { rp::validate(doc); }), "report: section 'ok': figure id 'f' is used twice");
  // A builder figure whose table later lost a column is caught before writing.
  doc.sections[0].figures.pop_back();
  doc.sections[0].figures[0].data = lmlab::table({"step", "other"});
  EXPECT_EQ(error_of([&] { rp::validate(doc); }),
            "report: figure 'f': encoded field 'loss' is not a column of its data (columns: step, other) "
            "[hint: pass the column name exactly as in the table header]");
}

TEST(report_html, escapes_text_and_script_json) {
  rp::document doc;
  doc.title = "A <b> & \"c\"";
  rp::section s;
  s.id = "s";
  s.title = "T";
  s.answer = "x < y";
  lmlab::table t({"name", "v"});
  t.add_row({"</script><script>alert(1)</script>", 1});
  s.figures.push_back(rp::bar_chart("f", "F", t, rp::axis("name"), rp::axis("v")));
  doc.sections.push_back(s);
  const std::string h = rp::render_index_html(doc);
  EXPECT_NE(h.find("<title>A &lt;b&gt; &amp; &quot;c&quot;</title>"), std::string::npos);
  EXPECT_NE(h.find("<span class=\"label\">Answer</span>x &lt; y</p>"), std::string::npos);
  EXPECT_EQ(h.find("</script><script>alert"), std::string::npos);
  EXPECT_NE(h.find("\\u003c/script>\\u003cscript>alert(1)\\u003c/script>"), std::string::npos);
  // Assets are loaded in dependency order, from the folder, never from a URL.
  const auto v = h.find("assets/vega.min.js"), vl = h.find("assets/vega-lite.min.js"), ve = h.find("assets/vega-embed.min.js");
  EXPECT_LT(v, vl);
  EXPECT_LT(vl, ve);
  EXPECT_EQ(h.find("src=\"http"), std::string::npos);
}

TEST(report_write, folder_layout_and_csv) {
  require_assets();
  const fs::path out = fresh_dir("layout");
  const auto r = rp::write_report(rp::testing::sample_document(), out);
  EXPECT_EQ(r.index, out / "index.html");
  EXPECT_EQ(r.figures, 4u);
  EXPECT_EQ(r.tables, 1u);
  for (const char* f : {"index.html", "fig-loss-curves.csv", "fig-accuracy-vs-width.csv", "fig-copy-accuracy-heatmap.csv",
                        "fig-final-loss.csv", "table-accuracy-by-seed.csv", "assets/vega.min.js", "assets/vega-lite.min.js",
                        "assets/vega-embed.min.js", "assets/NOTICE.txt", ".lmlab-report"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  for (const auto& a : rp::bundled_assets()) EXPECT_EQ(lmlab::sha256_file(out / "assets" / a.file), a.sha256);
  const std::string csv = lmlab::read_text_file(out / "fig-copy-accuracy-heatmap.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n', csv.find('\n') + 1) + 1), "length,encoding,accuracy\n64,rope,0.99\n");
  // No temp folder is left beside the report.
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(out.parent_path())) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(report_write, replaces_only_a_report_folder) {
  require_assets();
  const fs::path out = fresh_dir("replace");
  rp::write_report(rp::testing::sample_document(), out);
  lmlab::write_file_atomic(out / "stale.txt", std::string_view("old"));
  rp::write_report(rp::testing::sample_document(), out);
  EXPECT_FALSE(fs::exists(out / "stale.txt"));  // the folder was swapped whole, not merged
  EXPECT_TRUE(fs::exists(out / "index.html"));

  const fs::path other = fresh_dir("not-a-report");
  fs::create_directories(other);
  lmlab::write_file_atomic(other / "thesis.tex", std::string_view("precious"));
  EXPECT_EQ(error_of([&] { rp::write_report(rp::testing::sample_document(), other); }),
            fmt::format("report: {} exists and is not an lmlab report (no .lmlab-report marker); refusing to replace it "
                        "[hint: choose a new output folder, or remove that one yourself]",
                        other.string()));
  EXPECT_TRUE(fs::exists(other / "thesis.tex"));
}

TEST(report_write, missing_assets_give_the_fetch_hint) {
  const fs::path empty = fresh_dir("no-assets");
  fs::create_directories(empty);
  const fs::path out = fresh_dir("never-written");
  EXPECT_EQ(error_of([&] { rp::write_report(rp::testing::sample_document(), out, {.assets_dir = empty}); }),
            fmt::format("report: chart library file {} (vega@5.33.1) is missing [hint: run "
                        "scripts/fetch-report-assets.sh (npm pack of the pinned versions into the cache)]",
                        (empty / "vega.min.js").string()));
  EXPECT_FALSE(fs::exists(out));
  // An altered file is caught by its sha256.
  lmlab::write_file_atomic(empty / "vega.min.js", std::string_view("/* not vega */"));
  const std::string e = error_of([&] { rp::check_assets(empty); });
  EXPECT_NE(e.find("vega.min.js has sha256 "), std::string::npos) << e;
  EXPECT_NE(e.find("expected 463f3db6a40b20e9747b4ed38f37ed0add508838f9141b1cf8366784b07b30c8 (vega@5.33.1)"),
            std::string::npos) << e;
}

TEST(report_stats, mean_ci_by_group) {
  lmlab::table t({"model", "seed", "acc"});
  t.add_row({"b", 0, 1.0});
  t.add_row({"a", 0, 2.0});
  t.add_row({"b", 1, 3.0});
  t.add_row({"b", 2, 5.0});
  const auto g = rp::mean_ci_by_group(t, {"model"}, "acc");
  ASSERT_EQ(g.rows().size(), 2u);
  EXPECT_EQ(g.columns(), (std::vector<std::string>{"model", "mean", "lo", "hi", "n"}));
  EXPECT_EQ(g.rows()[0][0].text, "b");  // first-appearance order
  // b: mean 3, sd 2, se 2/sqrt(3); t_{0.975,2} = 4.302652729911275.
  EXPECT_DOUBLE_EQ(*g.rows()[0][1].number, 3.0);
  EXPECT_NEAR(*g.rows()[0][3].number, 3.0 + 4.302652729911275 * 2 / std::sqrt(3.0), 1e-9);
  EXPECT_EQ(*g.rows()[1][2].number, 2.0);  // single row: lo = hi = mean
  EXPECT_EQ(*g.rows()[1][4].number, 1.0);
  EXPECT_EQ(error_of([&] { rp::mean_ci_by_group(t, {"modle"}, "acc"); }), "mean_ci_by_group: column 'modle' not in the table");
}
