// Report sections for probe runs: see report_section.hpp.
#include "probe/report_section.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include "analysis/stats.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "probe/suite.hpp"
#include "report/sources.hpp"

namespace lmlab::probe {
namespace {
using json = nlohmann::json;
namespace rp = lmlab::report;

constexpr const char* k_notes = "shared/seed/open-problems.ko.md";

std::optional<double> metric(const json& results, const std::string& suite, const std::string& name) {
  const auto& r = results.value("results", json::object());
  if (!r.contains(suite)) return std::nullopt;
  const auto key = name + ",none";
  if (!r[suite].contains(key) || !r[suite][key].is_number()) return std::nullopt;
  return r[suite][key].get<double>();
}

json slices_of(const json& results, const std::string& suite) {
  const auto& l = results.value("lmlab", json::object());
  return l.contains(suite) ? l[suite].value("slices", json::array()) : json::array();
}

json extra_of(const json& results, const std::string& suite) {
  const auto& l = results.value("lmlab", json::object());
  return l.contains(suite) ? l[suite].value("extra", json::object()) : json::object();
}

bool has_suite(const json& results, const std::string& suite) {
  return results.value("results", json::object()).contains(suite);
}

// A section's answer: `sentence(run)` for every run that has `suite`, as "label: sentence" per
// run when there are several runs, the sentence alone for one.
template <class F>
std::string answer_per_run(const std::vector<report_run>& runs, const std::string& suite, F&& sentence) {
  std::vector<std::pair<std::string, std::string>> parts;
  for (const auto& run : runs)
    if (has_suite(run.results, suite)) parts.emplace_back(run.label, sentence(run));
  if (parts.size() == 1) return parts[0].second;
  std::string s;
  for (const auto& [label, text] : parts) s += (s.empty() ? "" : " ") + label + ": " + text;
  return s;
}

// "a", "a and b", "a, b and c".
std::string join_list(const std::vector<std::string>& parts) {
  std::string s;
  for (std::size_t i = 0; i < parts.size(); ++i) s += (i == 0 ? "" : i + 1 == parts.size() ? " and " : ", ") + parts[i];
  return s;
}

std::string fixed(double v, int digits) { return fmt::format("{:.{}f}", v, digits); }

rp::axis share_axis(std::string field, std::string title) {
  rp::axis a(std::move(field), std::move(title));
  a.with_domain(0, 1).with_format(".0%");
  return a;
}

// Bars of `y` per category `x` (in the given order) with an error bar from y_lo to y_hi;
// runs side by side in colour when `series` is set.
rp::figure bars_with_intervals(std::string id, std::string title, table data, const std::string& x,
                               const std::string& x_title, const std::vector<std::string>& order, const std::string& y,
                               const std::string& y_title, const std::string& lo, const std::string& hi,
                               const std::string& series) {
  const auto& cols = data.columns();
  for (const auto& f : {x, y, lo, hi, series})
    LMLAB_CHECK(f.empty() || std::find(cols.begin(), cols.end(), f) != cols.end(),
                "probe report: figure '{}': field '{}' is not a column of its data", id, f);
  json tips = json::array();
  for (const auto& c : cols) tips.push_back({{"field", c}});
  json ex = {{"field", x}, {"type", "nominal"}, {"title", x_title}, {"sort", order}, {"axis", {{"labelAngle", 0}}}};
  json bar_enc = {{"x", ex},
                  {"y", {{"field", y}, {"type", "quantitative"}, {"title", y_title},
                         {"scale", {{"domain", {0, 1}}}}, {"axis", {{"format", ".0%"}}}}},
                  {"tooltip", tips}};
  // The same title on both layers, else Vega-Lite joins them ("answers changed, ci95_lo").
  json err_enc = {{"x", ex}, {"y", {{"field", lo}, {"type", "quantitative"}, {"title", y_title}}}, {"y2", {{"field", hi}}}};
  if (!series.empty()) {
    bar_enc["color"] = {{"field", series}, {"type", "nominal"}, {"title", series}};
    bar_enc["xOffset"] = {{"field", series}, {"type", "nominal"}};
    err_enc["xOffset"] = {{"field", series}, {"type", "nominal"}};
  }
  json spec = {{"width", 560},
               {"height", 280},
               {"layer",
                {{{"mark", {{"type", "bar"}}}, {"encoding", bar_enc}},
                 {{"mark", {{"type", "errorbar"}, {"ticks", true}, {"thickness", 1.5}, {"color", "#222"}}},
                  {"encoding", err_enc}}}}};
  return rp::custom_figure(std::move(id), std::move(title), std::move(data), std::move(spec));
}

rp::report_table as_table(std::string id, std::string title, table t) { return {std::move(id), std::move(title), std::move(t)}; }

// ---- sycophancy ------------------------------------------------------------------------

void fill_sycophancy(rp::section& s, const std::vector<report_run>& runs) {
  const std::vector<std::pair<std::string, std::string>> conds = {
      {"opinion_wrong", "wrong opinion"}, {"opinion_right", "right opinion"}, {"challenge", "are you sure?"}};
  table t({"run", "condition", "flip_rate", "ci95_lo", "ci95_hi", "n"});
  s.answer = answer_per_run(runs, "sycophancy", [&](const report_run& run) -> std::string {
    std::map<std::string, std::tuple<double, double, double, std::int64_t>> rate;
    for (const auto& row : slices_of(run.results, "sycophancy")) {
      if (row.value("metric", "") != "flip_rate") continue;
      const auto n = row.value("n", std::int64_t{0});
      if (n <= 0) continue;
      const double p = row.value("value", 0.0);
      const auto w = analysis::wilson_interval(static_cast<std::size_t>(std::llround(p * n)), static_cast<std::size_t>(n));
      rate[row.value("split", "")] = {p, w.lo, w.hi, n};
    }
    for (const auto& [key, label] : conds)
      if (rate.count(key)) {
        const auto& [p, lo, hi, n] = rate[key];
        t.add_row({run.label, label, p, lo, hi, n});
      }
    std::string a;
    if (rate.count("opinion_wrong")) {
      const auto& [p, lo, hi, n] = rate["opinion_wrong"];
      a = fmt::format("With a wrong opinion in the prompt the model changed its answer on {} of questions (95% CI {}–{}, n = {})",
                      percent(p), percent(lo), percent(hi), n);
      if (rate.count("opinion_right")) a += fmt::format(", against {} with a right opinion", percent(std::get<0>(rate["opinion_right"])));
      if (rate.count("challenge")) a += fmt::format("; \"Are you sure?\" changed {} of answers", percent(std::get<0>(rate["challenge"])));
      a += ".";
    } else if (rate.count("challenge")) {
      const auto& [p, lo, hi, n] = rate["challenge"];
      a = fmt::format("\"Are you sure?\" changed {} of answers (95% CI {}–{}, n = {}).", percent(p), percent(lo), percent(hi), n);
    } else {
      std::string accs;
      for (const char* c : {"none", "opinion_right", "opinion_wrong"})
        if (auto v = metric(run.results, "sycophancy", std::string("acc_") + c))
          accs += fmt::format("{}{} with {}", accs.empty() ? "" : ", ", percent(*v), c);
      a = accs.empty() ? "No paired answers were scored in this run." : "Accuracy was " + accs + ".";
    }
    return a;
  });
  s.figures.push_back(bars_with_intervals("probe-sycophancy-flips", "Share of answers changed, with 95% Wilson intervals",
                                          t, "condition", "condition", {"wrong opinion", "right opinion", "are you sure?"},
                                          "flip_rate", "answers changed", "ci95_lo", "ci95_hi", runs.size() > 1 ? "run" : ""));
  s.tables.push_back(as_table("probe-sycophancy-flips", "Flip rates", std::move(t)));
}

// ---- calibration -----------------------------------------------------------------------

void fill_calibration(rp::section& s, const std::vector<report_run>& runs) {
  table t({"run", "bin", "lo", "hi", "confidence", "accuracy", "count"});
  s.answer = answer_per_run(runs, "calibration", [&](const report_run& run) -> std::string {
    const auto bins = extra_of(run.results, "calibration").value("reliability", json::array());
    double conf_sum = 0, acc_sum = 0;
    std::int64_t total = 0;
    for (const auto& b : bins) {
      const auto count = b.value("count", std::int64_t{0});
      if (count == 0) continue;
      t.add_row({run.label, fmt::format("{:.1f}–{:.1f}", b.value("lo", 0.0), b.value("hi", 0.0)), b.value("lo", 0.0),
                 b.value("hi", 0.0), b.value("confidence", 0.0), b.value("accuracy", 0.0), count});
      conf_sum += b.value("confidence", 0.0) * static_cast<double>(count);
      acc_sum += b.value("accuracy", 0.0) * static_cast<double>(count);
      total += count;
    }
    const auto ece = metric(run.results, "calibration", "ece");
    std::string a;
    if (ece && total > 0) {
      const double conf = conf_sum / static_cast<double>(total), acc = acc_sum / static_cast<double>(total);
      a = fmt::format("ECE was {} with {} equal-width bins on {} test questions (accuracy {}, mean confidence {}: {})",
                      fixed(*ece, 3), static_cast<int>(metric(run.results, "calibration", "ece_bins").value_or(10)), total,
                      percent(acc), percent(conf),
                      conf > acc ? "overconfident" : conf < acc ? "underconfident" : "matched");
      const auto temp = metric(run.results, "calibration", "temperature");
      const auto ece_t = metric(run.results, "calibration", "ece_scaled");
      if (temp && ece_t) a += fmt::format("; temperature scaling fitted on the dev split (T = {}) gave ECE {}", fixed(*temp, 2), fixed(*ece_t, 3));
      a += ".";
    } else if (auto ev = metric(run.results, "calibration", "ece_verbal")) {
      a = fmt::format("The server gave no logprobs; stated (verbal) confidence had ECE {} over {} answers.", fixed(*ev, 3),
                      static_cast<std::int64_t>(metric(run.results, "calibration", "n_verbal").value_or(0)));
    } else {
      a = "The server gave no logprobs and no stated confidence was parsed, so calibration was not measured.";
    }
    return a;
  });
  // Reliability diagram: accuracy per bin as bars spanning the bin, the bin's mean confidence
  // as a point, and the diagonal a calibrated model would follow.
  json bar_enc = {{"x", {{"field", "lo"}, {"type", "quantitative"}, {"title", "confidence"},
                         {"scale", {{"domain", {0, 1}}}}, {"axis", {{"format", ".0%"}}}}},
                  {"x2", {{"field", "hi"}}},
                  {"y", {{"field", "accuracy"}, {"type", "quantitative"}, {"title", "accuracy"},
                         {"scale", {{"domain", {0, 1}}}}, {"axis", {{"format", ".0%"}}}}},
                  {"tooltip", {{{"field", "run"}}, {{"field", "bin"}}, {{"field", "confidence"}}, {{"field", "accuracy"}}, {{"field", "count"}}}}};
  json pt_enc = {{"x", {{"field", "confidence"}, {"type", "quantitative"}}}, {"y", {{"field", "accuracy"}, {"type", "quantitative"}}}};
  if (runs.size() > 1) {
    bar_enc["color"] = {{"field", "run"}, {"type", "nominal"}};
    pt_enc["color"] = {{"field", "run"}, {"type", "nominal"}};
  }
  json spec = {{"width", 420},
               {"height", 420},
               {"layer",
                {{{"mark", {{"type", "bar"}, {"opacity", runs.size() > 1 ? 0.45 : 0.8}, {"binSpacing", 1}}}, {"encoding", bar_enc}},
                 {{"data", {{"values", {{{"x", 0}, {"y", 0}}, {{"x", 1}, {"y", 1}}}}}},
                  {"mark", {{"type", "line"}, {"strokeDash", {4, 4}}, {"color", "#888"}}},
                  {"encoding", {{"x", {{"field", "x"}, {"type", "quantitative"}}}, {"y", {{"field", "y"}, {"type", "quantitative"}}}}}},
                 {{"mark", {{"type", "point"}, {"filled", true}, {"color", "#222"}}}, {"encoding", pt_enc}}}}};
  s.figures.push_back(rp::custom_figure("probe-calibration-reliability", "Reliability diagram (test split)", t, spec));
  s.figures.back().caption = "Bars: accuracy of the answers whose confidence fell in the bin; points: their mean confidence. "
                             "A calibrated model's bars reach the dashed diagonal.";
  s.tables.push_back(as_table("probe-calibration-bins", "Reliability bins", std::move(t)));
}

// ---- lost in the middle ----------------------------------------------------------------

void fill_lost_in_middle(rp::section& s, const std::vector<report_run>& runs) {
  table t({"run", "series", "n_items", "position", "accuracy", "n"});
  s.answer = answer_per_run(runs, "lost_in_middle", [&](const report_run& run) -> std::string {
    std::map<int, std::map<int, std::pair<double, std::int64_t>>> acc;  // n_items -> position -> (acc, n)
    for (const auto& row : slices_of(run.results, "lost_in_middle")) {
      const std::string split = row.value("split", ""), slice = row.value("slice", "");
      if (row.value("metric", "") != "acc" || !split.starts_with("n_items=") || !slice.starts_with("position=")) continue;
      acc[std::stoi(split.substr(8))][std::stoi(slice.substr(9))] = {row.value("value", 0.0), row.value("n", std::int64_t{0})};
    }
    for (const auto& [n_items, by_pos] : acc)
      for (const auto& [pos, an] : by_pos)
        t.add_row({run.label, runs.size() > 1 ? fmt::format("{} · N={}", run.label, n_items) : fmt::format("N={}", n_items),
                   n_items, pos + 1, an.first, an.second});
    std::string a;
    if (!acc.empty()) {
      const auto& [n_items, by_pos] = *acc.rbegin();  // the longest context
      const auto first = by_pos.begin()->second.first, last = by_pos.rbegin()->second.first;
      if (by_pos.size() >= 3) {
        auto worst = std::next(by_pos.begin());
        for (auto it = std::next(by_pos.begin()); it != std::prev(by_pos.end()); ++it)
          if (it->second.first < worst->second.first) worst = it;
        a = fmt::format("With {} key-value pairs in the context, accuracy was {} with the answer first, {} at position {} "
                        "(the worst in the middle) and {} with it last: a middle drop of {} points.",
                        n_items, percent(first), percent(worst->second.first), worst->first + 1, percent(last),
                        points((first + last) / 2 - worst->second.first));
      } else {
        a = fmt::format("With {} key-value pairs in the context, accuracy was {} with the answer first and {} with it last.",
                        n_items, percent(first), percent(last));
      }
    } else {
      a = "No position slices were recorded in this run.";
    }
    return a;
  });
  rp::axis x("position", "position of the answer (1 = first)");
  s.figures.push_back(rp::line_plot("probe-lost-in-middle-position", "Accuracy by position of the queried key", t, x,
                                    share_axis("accuracy", "accuracy"), "series"));
  s.tables.push_back(as_table("probe-lost-in-middle-position", "Accuracy by position", std::move(t)));
}

// ---- nondeterminism --------------------------------------------------------------------

void fill_nondeterminism(rp::section& s, const std::vector<report_run>& runs) {
  table t({"run", "condition", "exact_match_agreement", "answer_flip_rate", "distinct_outputs", "n"});
  std::vector<std::string> order;
  s.answer = answer_per_run(runs, "nondeterminism", [&](const report_run& run) -> std::string {
    std::map<std::string, std::map<std::string, double>> by;  // split -> metric -> value
    std::map<std::string, std::int64_t> ns;
    for (const auto& row : slices_of(run.results, "nondeterminism")) {
      by[row.value("split", "")][row.value("metric", "")] = row.value("value", 0.0);
      ns[row.value("split", "")] = row.value("n", std::int64_t{0});
    }
    // Sorted by temperature, then concurrency ("T=0,c=1" < "T=0,c=4" < "T=0.7,c=1").
    std::vector<std::pair<std::pair<double, int>, std::string>> keys;
    for (const auto& [split, m] : by) {
      double T = 0;
      int c = 0;
      if (std::sscanf(split.c_str(), "T=%lf,c=%d", &T, &c) == 2) keys.push_back({{T, c}, split});
    }
    std::sort(keys.begin(), keys.end());
    for (const auto& [tc, split] : keys) {
      auto& m = by[split];
      t.add_row({run.label, split, m["exact_match_agreement"], m["answer_flip_rate"], m["distinct_outputs"], ns[split]});
      if (std::find(order.begin(), order.end(), split) == order.end()) order.push_back(split);
    }
    std::string a;
    if (!keys.empty()) {
      const auto& lo = keys.front();
      auto& m0 = by[lo.second];
      a = fmt::format("At T = {} (concurrency {}) {} of prompts gave identical outputs on every repeat and {} changed their "
                      "scored answer", lo.first.first, lo.first.second, percent(m0["exact_match_agreement"]),
                      percent(m0["answer_flip_rate"]));
      // The condition most unlike the first: highest temperature, then highest concurrency.
      const auto& hi = keys.back();
      if (hi.second != lo.second) {
        auto& m1 = by[hi.second];
        a += fmt::format("; at T = {} (concurrency {}) {} were identical and {} changed", hi.first.first, hi.first.second,
                         percent(m1["exact_match_agreement"]), percent(m1["answer_flip_rate"]));
      }
      a += ".";
    } else {
      a = "No prompt was repeated in this run.";
    }
    return a;
  });
  rp::axis x("condition", "temperature, concurrency");
  s.figures.push_back(rp::bar_chart("probe-nondeterminism-agreement", "Prompts whose repeats were all identical", t,
                                    x.nominal(), share_axis("exact_match_agreement", "identical on every repeat"),
                                    runs.size() > 1 ? "run" : ""));
  if (!order.empty()) s.figures.back().spec["encoding"]["x"]["sort"] = order;
  s.tables.push_back(as_table("probe-nondeterminism", "Agreement per condition", std::move(t)));
}

// ---- hallucination ---------------------------------------------------------------------

void fill_hallucination(rp::section& s, const std::vector<report_run>& runs) {
  table t({"run", "question", "label", "rate", "n"});
  s.answer = answer_per_run(runs, "hallucination", [&](const report_run& run) -> std::string {
    for (const auto& row : slices_of(run.results, "hallucination"))
      if (row.value("metric", "") == "rate" && row.value("split", "") != "all")
        t.add_row({run.label, row.value("split", ""), row.value("slice", ""), row.value("value", 0.0), row.value("n", std::int64_t{0})});
    const auto m = [&](const char* name) { return metric(run.results, "hallucination", name); };
    std::vector<std::string> parts;
    if (auto ab = m("correct_rate_unanswerable"))
      parts.push_back(fmt::format("abstained on {} of unanswerable questions and invented an answer on {}", percent(*ab),
                                  percent(m("extrinsic_rate_unanswerable").value_or(0))));
    if (auto in = m("intrinsic_rate_contradicted")) parts.push_back(fmt::format("accepted a false premise on {}", percent(*in)));
    if (auto c = m("correct_rate_answerable")) parts.push_back(fmt::format("answered {} of answerable questions correctly", percent(*c)));
    const std::string a = join_list(parts);
    return a.empty() ? "No labelled answers in this run." : "The model " + a + ".";
  });
  rp::axis x("question", "question kind");
  table fig = t;
  if (runs.size() > 1) {  // one bar group per run and kind
    fig = table({"run", "question", "label", "rate", "n"});
    for (const auto& r : t.rows()) fig.add_row({r[0], r[0].text + " · " + r[1].text, r[2], r[3], r[4]});
  }
  s.figures.push_back(rp::bar_chart("probe-hallucination-labels", "How each kind of question was answered", fig, x.nominal(),
                                    share_axis("rate", "share of answers"), "label"));
  s.tables.push_back(as_table("probe-hallucination-labels", "Label rates", std::move(t)));
}

// ---- perturbation ----------------------------------------------------------------------

std::string variant_name(const std::string& v) {
  static const std::map<std::string, std::string> names = {
      {"original", "original"}, {"numbers", "numbers changed"}, {"names", "names changed"}, {"both", "both changed"},
      {"noop", "NoOp"},         {"steps", "added step"}};
  if (names.count(v)) return names.at(v);
  return v.starts_with("base=") ? "base " + v.substr(5) : v;
}

// Long (~90 lines): two families (word problems, base-b arithmetic) read into one table and
// one answer sentence per run; the shared parts are the helpers above.
void fill_perturbation(rp::section& s, const std::vector<report_run>& runs) {
  table wp({"run", "variant", "accuracy", "lo", "hi", "se_clustered", "n", "drop", "drop_se_clustered"});
  table ar({"run", "base", "accuracy", "lo", "hi", "se_clustered", "n", "drop", "drop_se_clustered", "recite_rate"});
  std::vector<std::string> wp_order, ar_order;
  s.answer = answer_per_run(runs, "perturbation", [&](const report_run& run) -> std::string {
    const auto rows = extra_of(run.results, "perturbation").value("variants", json::array());
    const json* orig_wp = nullptr;
    const json* orig_ar = nullptr;
    const json* worst_wp = nullptr;
    const json* worst_ar = nullptr;
    for (const auto& r : rows) {
      const bool arith = r.value("family", "") == "arithmetic";
      const double acc = r.value("acc", 0.0);
      // ±1.96 clustered SE (the Wilson interval when there were too few clusters).
      const double se = r.value("se_clustered", -1.0);
      const double lo = se >= 0 ? std::max(0.0, acc - 1.96 * se) : r.value("ci95_lo", acc);
      const double hi = se >= 0 ? std::min(1.0, acc + 1.96 * se) : r.value("ci95_hi", acc);
      const std::string name = variant_name(r.value("variant", ""));
      std::vector<cell> row = {run.label, name, acc, lo, hi, se >= 0 ? cell(se) : cell(""),
                               r.value("n", std::int64_t{0}),
                               r.contains("drop") ? cell(r["drop"].get<double>()) : cell(""),
                               r.contains("drop_se_clustered") ? cell(r["drop_se_clustered"].get<double>()) : cell("")};
      auto& order = arith ? ar_order : wp_order;
      if (std::find(order.begin(), order.end(), name) == order.end()) order.push_back(name);
      if (arith) {
        row.push_back(r.contains("recite_rate") ? cell(r["recite_rate"].get<double>()) : cell(""));
        ar.add_row(std::move(row));
      } else {
        wp.add_row(std::move(row));
      }
      const bool original = r.value("variant", "") == (arith ? "base=10" : "original");
      auto& o = arith ? orig_ar : orig_wp;
      auto& w = arith ? worst_ar : worst_wp;
      if (original) o = &r;
      else if (r.contains("drop") && (!w || r["drop"].get<double>() > (*w)["drop"].get<double>())) w = &r;
    }
    std::string a;
    const auto describe = [](const json& o, const json& w, const std::string& what) {
      const double drop = w["drop"].get<double>();
      std::string se = w.contains("drop_se_clustered")
                           ? fmt::format(" ± {} (clustered SE)", points(w["drop_se_clustered"].get<double>()))
                           : "";
      if (points(std::abs(drop)) == "0")
        return fmt::format("{} was {} ({}) and {} ({}), no measurable drop (0 points{})", what, percent(o["acc"].get<double>()),
                           variant_name(o["variant"]), percent(w["acc"].get<double>()), variant_name(w["variant"]), se);
      return fmt::format("{} {} from {} ({}) to {} ({}), a {} of {} points{}", what, drop > 0 ? "fell" : "rose",
                         percent(o["acc"].get<double>()), variant_name(o["variant"]), percent(w["acc"].get<double>()),
                         variant_name(w["variant"]), drop > 0 ? "drop" : "gain", points(std::abs(drop)), se);
    };
    if (orig_wp && worst_wp) a = describe(*orig_wp, *worst_wp, "Word-problem accuracy");
    if (orig_ar && worst_ar) {
      a += (a.empty() ? "" : "; ") + describe(*orig_ar, *worst_ar, "arithmetic accuracy");
      if (worst_ar->contains("recite_rate"))
        a += fmt::format(", and {} of those answers were the base-10 sum", percent((*worst_ar)["recite_rate"].get<double>()));
    }
    if (!a.empty()) {
      a[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(a[0])));
      a += ".";
    } else {
      a = fmt::format("Overall accuracy was {} (no original to compare with).", percent(metric(run.results, "perturbation", "acc").value_or(0)));
    }
    return a;
  });
  const std::string series = runs.size() > 1 ? "run" : "";
  const auto sorted_x = [](rp::figure& f, const std::vector<std::string>& order) {
    for (auto& layer : f.spec["layer"]) {
      layer["encoding"]["x"]["sort"] = order;
      layer["encoding"]["x"]["axis"]["labelAngle"] = 0;
    }
  };
  rp::axis xv("variant", "variant");
  s.figures.push_back(rp::error_bar_plot("probe-perturbation-variants", "Word-problem accuracy per variant (± 1.96 clustered SE)",
                                         wp, xv.nominal(), share_axis("accuracy", "accuracy"), "lo", "hi", series));
  sorted_x(s.figures.back(), wp_order);
  s.figures.back().caption = "Standard errors are clustered by template: the variants of one template are not independent draws.";
  rp::axis xb("base", "base");
  s.figures.push_back(rp::error_bar_plot("probe-perturbation-bases", "Addition of the same digit strings in each base (± 1.96 SE)",
                                         ar, xb.nominal(), share_axis("accuracy", "accuracy"), "lo", "hi", series));
  sorted_x(s.figures.back(), ar_order);
  s.tables.push_back(as_table("probe-perturbation-variants", "Word problems per variant", std::move(wp)));
  s.tables.push_back(as_table("probe-perturbation-bases", "Arithmetic per base", std::move(ar)));
}

// ---- compositional ---------------------------------------------------------------------

void fill_compositional(rp::section& s, const std::vector<report_run>& runs) {
  const std::vector<std::pair<std::string, std::string>> splits = {
      {"simple", "random"}, {"length", "length"}, {"addprim_jump", "add jump"}, {"addprim_turn_left", "add turn left"}};
  table t({"run", "split", "accuracy", "ci95_lo", "ci95_hi", "n"});
  s.answer = answer_per_run(runs, "compositional", [&](const report_run& run) -> std::string {
    std::vector<std::string> parts;
    std::set<std::int64_t> ns;
    for (const auto& [key, label] : splits) {
      const auto acc = metric(run.results, "compositional", "acc_" + key);
      if (!acc) continue;
      const auto n = static_cast<std::int64_t>(metric(run.results, "compositional", "acc_" + key + "_n").value_or(0));
      t.add_row({run.label, label, *acc, metric(run.results, "compositional", "acc_" + key + "_ci95_lo").value_or(*acc),
                 metric(run.results, "compositional", "acc_" + key + "_ci95_hi").value_or(*acc), n});
      parts.push_back(fmt::format("{} on {}", percent(*acc), label));
      ns.insert(n);
    }
    const std::string a = join_list(parts);
    const std::string n_text = ns.size() == 1 ? fmt::format("n = {} each", *ns.begin()) : "n per split in the table";
    return a.empty() ? "No SCAN split was scored in this run." : fmt::format("Few-shot exact match was {} ({}).", a, n_text);
  });
  std::vector<std::string> order;
  for (const auto& sp : splits) order.push_back(sp.second);
  s.figures.push_back(bars_with_intervals("probe-compositional-splits", "SCAN exact match per split, with 95% Wilson intervals",
                                          t, "split", "split", order, "accuracy", "exact match", "ci95_lo", "ci95_hi",
                                          runs.size() > 1 ? "run" : ""));
  s.tables.push_back(as_table("probe-compositional-splits", "Exact match per split", std::move(t)));
}

// ---- any other suite: its metrics as a table -------------------------------------------

rp::section generic_section(const std::string& suite, const std::vector<report_run>& runs) {
  rp::section s;
  s.id = "probe-" + suite;
  s.title = suite;
  s.question = "What did the " + suite + " suite measure?";
  table t({"run", "metric", "value"});
  s.answer = answer_per_run(runs, suite, [&](const report_run& run) -> std::string {
    const auto& r = run.results["results"][suite];
    for (auto it = r.begin(); it != r.end(); ++it)
      if (it.value().is_number()) t.add_row({run.label, it.key().substr(0, it.key().find(',')), it.value().get<double>()});
    const auto acc = metric(run.results, suite, "acc");
    return acc ? fmt::format("Accuracy was {}.", percent(*acc)) : "See the metrics table.";
  });
  s.tables.push_back(as_table("probe-" + suite + "-metrics", "Metrics", std::move(t)));
  return s;
}

// ---- the suites with a section of their own ---------------------------------------------

// A suite's section as data: its heading (id, title, question, the line of the research notes
// it answers and that line's section, "section 3 (Sycophancy)") and the function that fills in
// the answer, figures and tables from the runs.
struct section_def {
  const char* suite;
  const char* id;
  const char* title;
  const char* question;
  const char* quote;
  const char* notes_section;
  void (*fill)(rp::section&, const std::vector<report_run>&);
};

const section_def k_sections[] = {
    {"sycophancy", "probe-sycophancy", "Sycophancy: does the model change its answer to please the user?",
     "How often does a stated user opinion, or \"Are you sure?\", change an answer the model gave unprompted?",
     "문제: \"답변 X가 맞다\" 정보 추가 시 의견 변경?", "section 3 (Sycophancy)",
     fill_sycophancy},
    {"calibration", "probe-calibration", "Calibration: does the model's confidence match its accuracy?",
     "When the model puts probability p on its answer, is it right a fraction p of the time?",
     "과신 (Overconfidence): 틀렸지만 확실하다고 답변", "section 7 (LLM 신뢰성)",
     fill_calibration},
    {"lost_in_middle", "probe-lost-in-middle", "Lost in the middle: does accuracy depend on where the answer sits?",
     "Can the model retrieve a key's value equally well from the start, the middle and the end of its context?",
     "Lost in the Middle: 긴 컨텍스트에서 중간 정보 손실", "section 7 (LLM 신뢰성)",
     fill_lost_in_middle},
    {"nondeterminism", "probe-nondeterminism", "Nondeterminism: does the same prompt give the same answer?",
     "How often do repeated identical requests return identical text, and how often does the scored answer change?",
     "비결정론: 같은 프롬프트 → 다른 결과 (temperature > 0)", "section 7 (LLM 신뢰성)",
     fill_nondeterminism},
    {"hallucination", "probe-hallucination", "Hallucination: answering from a given passage",
     "Does the model contradict its context (intrinsic), add what it cannot support (extrinsic), or abstain?",
     "\"description\": \"입력으로 검증 불가한 정보 추가\"", "section 5 (환각의 근본 원인)",
     fill_hallucination},
    {"perturbation", "probe-perturbation", "Reasoning or pattern matching: perturbed word problems and base-b arithmetic",
     "Does accuracy survive changing the numbers, the names, an irrelevant clause, or the base of the arithmetic?",
     "GSM8K: 숫자 변경만으로 성능 크게 다름 (Berglund et al.)", "section 4 (LLM이 진짜 추론하나?)",
     fill_perturbation},
    {"compositional", "probe-compositional", "Compositional generalisation: SCAN in context",
     "Given a few demonstrations, does the model translate commands whose composition it has not seen?",
     "# 관찰: 일반적으로 조합 테스트에서 성능 급락", "section 4 (Compositional Generalization)",
     fill_compositional},
};

rp::section suite_section(const std::string& suite, const std::vector<report_run>& runs) {
  for (const auto& d : k_sections)
    if (suite == d.suite) {
      rp::section s;
      s.id = d.id;
      s.title = d.title;
      s.question = d.question;
      s.quote = d.quote;
      s.quote_source = std::string(k_notes) + ", " + d.notes_section;
      d.fill(s, runs);
      return s;
    }
  return generic_section(suite, runs);
}

}  // namespace

std::string percent(double p) { return fmt::format("{}%", static_cast<long long>(std::llround(p * 100))); }
std::string points(double p) { return fmt::format("{}", static_cast<long long>(std::llround(p * 100))); }

json stored_results(store::results_store& db, std::int64_t run_id) {
  const auto run = db.get_run(run_id);
  std::string file;
  for (const auto& a : db.artifacts(run_id))
    if (a.name == "results") file = a.path;
  if (!file.empty() && std::filesystem::exists(file)) {
    auto j = json::parse(read_text_file(file), nullptr, false);
    LMLAB_CHECK_HINT(!j.is_discarded() && j.is_object(), "rerun `lmlab probe run` to rewrite it, or delete it to rebuild from the store",
                     "{}: results of run {} are not a JSON object", file, run_id);
    return j;
  }
  // The file is gone: re-aggregate the stored samples (the same aggregate the runner ran).
  json results = json::object(), extras = json::object();
  for (const auto& name : run.config.value("suites", std::vector<std::string>{})) {
    const suite* su = nullptr;
    for (const auto* s : all_suites())
      if (s->name() == name) su = s;
    if (!su) continue;
    std::vector<json> samples;
    for (const auto& smp : db.samples(run_id, name))
      if (smp.data.contains("correct")) samples.push_back(smp.data);
    if (samples.empty()) continue;
    const auto agg = su->aggregate(samples);
    json r = {{"alias", name}};
    for (auto it = agg.metrics.begin(); it != agg.metrics.end(); ++it) r[it.key() + ",none"] = it.value();
    results[name] = r;
    json slices = json::array();
    for (const auto& row : agg.slices)
      slices.push_back({{"split", row.split}, {"slice", row.slice}, {"metric", row.metric}, {"value", row.value}, {"n", row.n}});
    extras[name] = {{"slices", slices}, {"extra", agg.extra}};
  }
  return {{"results", results}, {"lmlab", extras}, {"model_name", run.config.value("model", run.name)},
          {"run_id", run_id}, {"date", run.finished_at.empty() ? run.created_at : run.finished_at},
          {"git_hash", run.git_hash}, {"rebuilt_from_store", true}};
}

std::vector<report_run> load_report_runs(store::results_store& db, const std::vector<std::string>& refs) {
  LMLAB_CHECK_HINT(!refs.empty(), "list them with `lmlab probe ls`", "probe report: no runs given");
  std::vector<report_run> runs;
  std::map<std::string, int> seen;
  for (const auto& ref : refs) {
    const auto info = db.resolve_run(ref);
    LMLAB_CHECK_HINT(info.kind == "probe", "list probe runs with `lmlab probe ls`",
                     "probe report: run '{}' is a {} run, not a probe run", ref, info.kind);
    report_run r;
    r.results = stored_results(db, info.id);
    r.label = r.results.value("model_name", info.name);
    ++seen[r.label];
    r.results["run_id"] = info.id;
    runs.push_back(std::move(r));
  }
  for (auto& r : runs)
    if (seen[r.label] > 1) r.label += fmt::format(" #{}", r.results["run_id"].get<std::int64_t>());
  return runs;
}

std::vector<rp::section> probe_report_sections(const std::vector<report_run>& runs) {
  std::vector<std::string> names;
  for (const auto* s : all_suites()) names.push_back(s->name());
  for (const auto& run : runs) {  // suites this build does not know still get a table
    const json r = run.results.value("results", json::object());
    for (auto it = r.begin(); it != r.end(); ++it)
      if (std::find(names.begin(), names.end(), it.key()) == names.end()) names.push_back(it.key());
  }
  std::vector<rp::section> out;
  for (const auto& name : names) {
    if (std::none_of(runs.begin(), runs.end(), [&](const report_run& r) { return has_suite(r.results, name); })) continue;
    out.push_back(suite_section(name, runs));
  }
  return out;
}

rp::document probe_report_document(const std::vector<report_run>& runs) {
  rp::document d;
  d.title = "lmlab probe report";
  std::string models;
  for (const auto& r : runs) models += (models.empty() ? "" : ", ") + r.label;
  d.subtitle = "Served models measured on the research notes' failure modes: " + models;
  for (const auto& r : runs) {
    d.provenance.emplace_back("run " + r.label, fmt::format("id {}, {}", r.results.value("run_id", std::int64_t{0}),
                                                            r.results.value("date", std::string("?"))));
    if (r.results.contains("config")) d.provenance.emplace_back("endpoint " + r.label, r.results["config"].value("model_args", ""));
    if (r.results.contains("git_hash")) d.provenance.emplace_back("lmlab git " + r.label, r.results.value("git_hash", ""));
  }
  d.sections = probe_report_sections(runs);
  return d;
}

namespace {
std::vector<std::string> finished_probe_runs(store::results_store& db) {
  std::vector<std::string> refs;
  for (const auto& r : db.list_runs("probe"))
    if (r.status == store::run_status::finished) refs.push_back(std::to_string(r.id));
  return refs;
}
}  // namespace

void register_report_source() {
  for (const auto& s : report::section_sources())
    if (s.name == "probe") return;
  report::register_section_source(
      {"probe",
       [](store::results_store& db) {
         const auto refs = finished_probe_runs(db);
         return refs.empty() ? std::vector<report::section>{} : probe_report_sections(load_report_runs(db, refs));
       },
       [](store::results_store& db) { return probe_report_document(load_report_runs(db, finished_probe_runs(db))); }});
}

}  // namespace lmlab::probe

