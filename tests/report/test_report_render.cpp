// Renders the sample report in headless Chromium (Debian `chromium`) from disk, with the
// network features off, and checks from the dumped DOM that every figure drew its marks as
// SVG, that the page counted all vega-embed promises as resolved, and that Vega logged no
// warning. A second page with a broken spec proves the check can fail.
// Set LMLAB_REPORT_SCREENSHOT=/path/shot.png to also save a screenshot of the sample report.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <regex>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "report/lab_report.hpp"
#include "report/report.hpp"
#include "sample_report.hpp"

namespace fs = std::filesystem;
namespace rp = lmlab::report;

namespace {

fs::path work_dir() {
  static const fs::path d = [] {
    fs::path p = fs::temp_directory_path() / ("lmlab_report_render_" + std::to_string(::getpid()));
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
  }();
  return d;
}

// The temp folder stays for inspection when a test failed (the failure message names it).
class remove_work_dir : public ::testing::Environment {
 public:
  void TearDown() override {
    if (!::testing::UnitTest::GetInstance()->Failed()) fs::remove_all(work_dir());
  }
};
[[maybe_unused]] const auto* const kCleanup = ::testing::AddGlobalTestEnvironment(new remove_work_dir);

std::string find_chromium() {
  if (const char* c = std::getenv("LMLAB_CHROMIUM"); c && *c) return c;
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    for (const char* dir : {"/usr/bin", "/usr/local/bin", "/snap/bin"}) {
      const fs::path p = fs::path(dir) / name;
      if (::access(p.c_str(), X_OK) == 0) return p.string();
    }
  }
  return {};
}

std::string run_capture(const std::string& cmd) {
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return {};
  std::string out;
  char buf[1 << 16];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

// Headless Chromium with every background network feature off and a throwaway profile.
std::string chromium_command(const std::string& chromium, const fs::path& profile, const std::string& mode) {
  return fmt::format(
      "timeout 90 '{}' --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
      "--disable-background-networking --disable-component-update --disable-sync --user-data-dir='{}' "
      "--virtual-time-budget=10000 {}",
      chromium, profile.string(), mode);
}

std::string dump_dom(const fs::path& index, const std::string& tag) {
  const std::string chromium = find_chromium();
  if (chromium.empty()) return {};
  const fs::path profile = work_dir() / ("profile-" + tag);
  const fs::path log = work_dir() / ("chromium-" + tag + ".log");
  return run_capture(chromium_command(chromium, profile, "--dump-dom 'file://" + index.string() + "' 2>'" + log.string() + "'"));
}

std::string body_attr(const std::string& dom, const std::string& name) {
  const auto body = dom.find("<body");
  if (body == std::string::npos) return "(no body)";
  const auto end = dom.find('>', body);
  const std::string tag = dom.substr(body, end - body);
  const std::smatch m = [&] {
    std::smatch mm;
    std::regex_search(tag, mm, std::regex(name + "=\"([^\"]*)\""));
    return mm;
  }();
  return m.empty() ? "(unset)" : m[1].str();
}

// The DOM of one figure: from its container to the end of its <figure>.
std::string figure_dom(const std::string& dom, const std::string& id) {
  const auto at = dom.find("data-fig=\"" + id + "\"");
  if (at == std::string::npos) return {};
  return dom.substr(at, dom.find("</figure>", at) - at);
}

std::size_t count(const std::string& s, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = s.find(needle); p != std::string::npos; p = s.find(needle, p + 1)) ++n;
  return n;
}

void require_tools() {
  try {
    rp::check_assets(rp::default_assets_dir());
  } catch (const lmlab::error& e) {
    FAIL() << e.what() << "\nhint: " << e.hint();
  }
  ASSERT_FALSE(find_chromium().empty()) << "headless Chromium not found (set LMLAB_CHROMIUM or install the Debian "
                                           "package `chromium`; scripts/deps.sh installs it)";
}

}  // namespace

TEST(report_render, every_figure_renders_in_headless_chromium) {
  require_tools();
  if (HasFatalFailure()) return;
  const fs::path out = work_dir() / "sample";
  const auto doc = rp::testing::sample_document();
  const auto written = rp::write_report(doc, out);
  const std::string dom = dump_dom(written.index, "sample");
  ASSERT_NE(dom.find("</html>"), std::string::npos) << "no DOM from Chromium; see " << (work_dir() / "chromium-sample.log");

  EXPECT_EQ(body_attr(dom, "data-figures"), "4");
  EXPECT_EQ(body_attr(dom, "data-rendered"), "4");
  EXPECT_EQ(body_attr(dom, "data-errors"), "0");
  EXPECT_EQ(body_attr(dom, "data-warnings"), "0") << body_attr(dom, "data-warning-text");

  // Per kind, the Vega mark groups that must hold drawn elements.
  // Vega tags data marks "role-mark" (axes and legends have other roles); a Vega-Lite tick
  // (the error bar caps) is drawn as a rect.
  const std::map<rp::figure_kind, std::vector<std::string>> marks = {
      {rp::figure_kind::line, {"mark-line role-mark"}},
      {rp::figure_kind::points_error,
       {"mark-line role-mark", "mark-rule role-mark", "mark-rect role-mark", "mark-symbol role-mark"}},
      {rp::figure_kind::heatmap, {"mark-rect role-mark", "mark-text role-mark"}},
      {rp::figure_kind::bar, {"mark-rect role-mark"}}};
  // How many SVG elements the first group of that mark must hold: one per row for cells,
  // bars and mean points; one path per series for lines.
  auto drawn = [](const std::string& fig, const std::string& mark) {
    const auto g = fig.find(mark);
    if (g == std::string::npos) return std::size_t{0};
    const auto end = fig.find("</g>", g);
    const std::string group = fig.substr(g, end - g);
    return count(group, "<path") + count(group, "<text");
  };
  for (const auto& s : doc.sections)
    for (const auto& f : s.figures) {
      SCOPED_TRACE(f.id);
      const std::string fig = figure_dom(dom, f.id);
      ASSERT_FALSE(fig.empty());
      EXPECT_NE(fig.find("data-status=\"ok\""), std::string::npos);
      EXPECT_NE(fig.find("<svg"), std::string::npos);
      for (const auto& m : marks.at(f.kind)) EXPECT_GT(count(fig, m), 0u) << m;
      const std::size_t rows = f.data.rows().size();
      switch (f.kind) {
        case rp::figure_kind::line:  // one faceted line group per mixer, each with its path
          EXPECT_EQ(count(fig, "mark-line role-mark"), 3u);
          EXPECT_EQ(drawn(fig, "mark-line role-mark"), 1u);
          break;
        case rp::figure_kind::points_error: EXPECT_EQ(drawn(fig, "mark-symbol role-mark"), rows); break;
        case rp::figure_kind::heatmap:
          EXPECT_EQ(drawn(fig, "mark-rect role-mark"), rows);
          EXPECT_EQ(drawn(fig, "mark-text role-mark"), rows);
          break;
        case rp::figure_kind::bar: EXPECT_EQ(drawn(fig, "mark-rect role-mark"), rows); break;
        case rp::figure_kind::custom: break;
      }
      EXPECT_NE(fig.find(f.data.columns()[0]), std::string::npos);  // axis titles drawn as text
    }

  if (const char* shot = std::getenv("LMLAB_REPORT_SCREENSHOT"); shot && *shot) {
    run_capture(chromium_command(find_chromium(), work_dir() / "profile-shot",
                                 fmt::format("--screenshot='{}' --window-size=1200,2000 'file://{}' 2>/dev/null", shot,
                                             written.index.string())));
    EXPECT_TRUE(fs::exists(shot));
  }
}

// A lab section as the report writes it (two variants, three seeds, two slices): its figures —
// loss lines over a CI band, slice points with error bars, the heatmap, bars with error rules —
// render without errors or Vega warnings.
TEST(report_render, a_lab_section_draws_its_intervals) {
  require_tools();
  if (HasFatalFailure()) return;
  std::vector<rp::lab_run> runs;
  for (const char* arch : {"gpt", "mamba"})
    for (int seed = 0; seed < 3; ++seed) {
      rp::lab_run r;
      r.info.name = fmt::format("toy/{}-{}", arch, seed);
      r.info.status = lmlab::store::run_status::finished;
      r.info.config = {{"model", {{"arch", arch}}}, {"seed", seed}};
      const double base = arch[0] == 'g' ? 0.9 : 0.4;
      for (int step = 10; step <= 50; step += 10) r.metrics.push_back({step, "train_loss", 3.0 - step * 0.02 * base + 0.05 * seed});
      for (int kv : {4, 8}) {
        r.evaluations.push_back({"test", fmt::format("kv={}", kv), "accuracy", base - 0.02 * kv + 0.03 * seed, 50});
        r.evaluations.push_back({"test", fmt::format("kv={}", kv), "difficulty", static_cast<double>(kv), 50});
      }
      r.evaluations.push_back({"test", "all", "accuracy", base - 0.1 + 0.03 * seed, 100});
      runs.push_back(std::move(r));
    }
  rp::document doc;
  doc.sections.push_back(rp::lab_experiment_section("toy", runs, {}));
  const auto written = rp::write_report(doc, work_dir() / "lab");
  const std::string dom = dump_dom(written.index, "lab");
  ASSERT_NE(dom.find("</html>"), std::string::npos);
  EXPECT_EQ(body_attr(dom, "data-figures"), "4");
  EXPECT_EQ(body_attr(dom, "data-rendered"), "4");
  EXPECT_EQ(body_attr(dom, "data-errors"), "0");
  EXPECT_EQ(body_attr(dom, "data-warnings"), "0") << body_attr(dom, "data-warning-text");
  EXPECT_GT(count(figure_dom(dom, "toy-loss"), "mark-area role-mark"), 0u);
  EXPECT_EQ(count(figure_dom(dom, "toy-loss"), "mark-line role-mark"), 2u);  // a line per variant
  // One error rule per bar.
  const std::string bars = figure_dom(dom, "toy-final");
  const auto rules = bars.find("mark-rule role-mark");
  ASSERT_NE(rules, std::string::npos);
  EXPECT_EQ(count(bars.substr(rules, bars.find("</g>", rules) - rules), "<line"), 2u);
}

// The notes are Korean: a machine without a Hangul font shows their quotes as .notdef boxes.
// The page measures "한국어" in its body font against three private-use characters that no font
// has (body data-hangul-width, data-missing-glyph-width); real glyphs are wider (Hangul syllables
// are about 1 em each) and never the width of the boxes. Fails without a CJK font installed
// (scripts/deps.sh installs fonts-nanum, which the report's font stack names).
TEST(report_render, korean_text_renders_with_real_glyphs) {
  require_tools();
  if (HasFatalFailure()) return;
  rp::document doc;
  rp::section s;
  s.id = "korean";
  s.title = "위치 인코딩의 미래";
  s.quote = "외삽 한계: 학습 시 최대 길이보다 5-10× 이상에서 급격한 성능 저하";
  s.answer = "한국어";
  doc.sections.push_back(s);
  const auto written = rp::write_report(doc, work_dir() / "korean");
  const std::string dom = dump_dom(written.index, "korean");
  ASSERT_NE(dom.find("</html>"), std::string::npos);
  const std::string hangul = body_attr(dom, "data-hangul-width"), missing = body_attr(dom, "data-missing-glyph-width");
  ASSERT_TRUE(std::regex_match(hangul, std::regex("[0-9.]+"))) << hangul;
  ASSERT_TRUE(std::regex_match(missing, std::regex("[0-9.]+"))) << missing;
  const double h = std::stod(hangul), m = std::stod(missing);
  EXPECT_GT(h, 1.2 * m) << "Korean text renders as missing-glyph boxes (\"한국어\" " << h << " px wide, three .notdef boxes "
                        << m << " px): install a CJK font (scripts/deps.sh installs fonts-nanum)";
  EXPECT_GE(h, 2.5 * 16) << "three Hangul syllables in the 16 px body font should span about 3 em";
}

TEST(report_render, a_broken_spec_is_reported_not_hidden) {
  require_tools();
  if (HasFatalFailure()) return;
  rp::document doc;
  rp::section s;
  s.id = "broken";
  s.title = "Broken";
  s.answer = "One figure fails.";
  lmlab::table t({"x", "y"});
  t.add_row({1, 2.0});
  s.figures.push_back(rp::line_plot("good", "Good", t, rp::axis("x"), rp::axis("y")));
  s.figures.push_back(rp::custom_figure("bad", "Bad", t, {{"mark", "no-such-mark"}, {"encoding", nlohmann::json::object()}}));
  doc.sections.push_back(s);
  const auto written = rp::write_report(doc, work_dir() / "broken");
  const std::string dom = dump_dom(written.index, "broken");
  ASSERT_NE(dom.find("</html>"), std::string::npos);
  EXPECT_EQ(body_attr(dom, "data-figures"), "2");
  EXPECT_EQ(body_attr(dom, "data-rendered"), "1");
  EXPECT_EQ(body_attr(dom, "data-errors"), "1");
  const std::string bad = figure_dom(dom, "bad");
  EXPECT_NE(bad.find("data-status=\"error\""), std::string::npos);
  EXPECT_NE(bad.find("This figure failed to render: "), std::string::npos) << bad.substr(0, 400);
  EXPECT_EQ(bad.find("<svg"), std::string::npos);
  EXPECT_NE(figure_dom(dom, "good").find("data-status=\"ok\""), std::string::npos);
}
