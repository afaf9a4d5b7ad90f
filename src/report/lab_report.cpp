// Lab runs from the results store -> report sections (see lab_report.hpp): variants and their
// labels, per-variant statistics over seeds, the four figures, the runs table, the answer
// sentence, and the published results with the rules that check them.
#include "report/lab_report.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <set>

#include "analysis/stats.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "lab/archive.hpp"
#include "models/arch.hpp"
#include "report/lab_data.hpp"

namespace lmlab::report {

namespace fs = std::filesystem;
using nlohmann::json;

// ---- notes -----------------------------------------------------------------------------

lab_notes load_lab_notes(const fs::path& notes_dir) {
  lab_notes n;
  auto load = [&](const char* file, const char* key) {
    const fs::path p = notes_dir / file;
    LMLAB_CHECK_HINT(fs::exists(p), "run from the repository root or pass --notes DIR (the folder with questions.json)",
                     "report: notes file {} not found", p.string());
    json j;
    try {
      j = json::parse(read_text_file(p));
    } catch (const json::exception& e) {
      throw error(fmt::format("report: {}: not valid JSON: {}", p.string(), e.what()));
    }
    LMLAB_CHECK(j.is_object() && j.contains(key) && j[key].is_array(), "report: {}: expected an object with a \"{}\" array",
                p.string(), key);
    return j;
  };
  n.questions = load("questions.json", "questions");
  n.claims = load("claims.json", "claims");
  return n;
}

const json* find_by_id(const json& doc, const char* array_key, const std::string& id) {
  if (!doc.is_object() || !doc.contains(array_key)) return nullptr;
  for (const auto& q : doc[array_key])
    if (q.value("id", "") == id) return &q;
  return nullptr;
}

namespace {

// ---- variants --------------------------------------------------------------------------

void flatten(const json& j, const std::string& prefix, std::map<std::string, std::string>& out) {
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) flatten(v, prefix.empty() ? k : prefix + "." + k, out);
    return;
  }
  out[prefix] = j.is_string() ? j.get<std::string>() : j.dump();
}

std::string last_component(const std::string& key) {
  const auto dot = key.rfind('.');
  return dot == std::string::npos ? key : key.substr(dot + 1);
}

}  // namespace

std::map<std::string, std::string> variant_key(const json& config) {
  static const std::set<std::string> replicate = {"seed", "run_id", "derived_seed", "question", "experiment"};
  std::map<std::string, std::string> out;
  if (!config.is_object()) return out;
  for (const auto& [k, v] : config.items())
    if (!replicate.count(k)) flatten(v, k, out);
  return out;
}

std::vector<std::string> variant_labels(const std::vector<json>& configs) {
  std::vector<std::map<std::string, std::string>> keys;
  std::set<std::string> all;
  for (const auto& c : configs) {
    keys.push_back(variant_key(c));
    for (const auto& [k, v] : keys.back()) all.insert(k);
  }
  std::vector<std::string> differing;
  for (const auto& k : all) {
    std::set<std::string> values;
    for (const auto& m : keys) {
      const auto it = m.find(k);
      values.insert(it == m.end() ? "-" : it->second);
    }
    if (values.size() > 1) differing.push_back(k);
  }
  std::map<std::string, int> short_count;
  for (const auto& k : differing) ++short_count[last_component(k)];
  std::vector<std::string> labels;
  for (const auto& m : keys) {
    std::string label;
    for (const auto& k : differing) {
      const auto it = m.find(k);
      const std::string name = short_count[last_component(k)] > 1 ? k : last_component(k);
      label += (label.empty() ? "" : " ") + name + "=" + (it == m.end() ? "-" : it->second);
    }
    labels.push_back(label.empty() ? "all runs" : label);
  }
  return labels;
}


// ---- statistics and metrics (lab_data.hpp) ---------------------------------------------

seed_stat stat_of(const std::vector<double>& v) {
  seed_stat s;
  s.n = v.size();
  if (v.empty()) return s;
  if (v.size() >= 2) {
    const auto ci = analysis::mean_ci(v, 0.95);
    s.mean = ci.estimate, s.lo = ci.lo, s.hi = ci.hi;
  } else {
    s.mean = s.lo = s.hi = v[0];
  }
  return s;
}

std::string fmt2(double v) { return fmt::format("{:.2f}", v); }
std::string mean_pm(const seed_stat& s) { return s.n >= 2 ? fmt2(s.mean) + " ± " + fmt2(s.half()) : fmt2(s.mean); }

namespace {

std::int64_t seed_of(const store::run_info& r, std::int64_t fallback) {
  if (r.config.contains("seed") && r.config["seed"].is_number_integer()) return r.config["seed"].get<std::int64_t>();
  return r.seed.value_or(fallback);
}

// The layer pattern, also when the spec named the model by the lab's `arch`/`mixer` shorthand,
// so that groups can select attention, recurrent and hybrid models alike ("model.pattern").
std::string pattern_of(const json& config) {
  const json m = config.value("model", json::object());
  if (m.contains("pattern") && m["pattern"].is_string()) return m["pattern"].get<std::string>();
  for (const char* key : {"arch", "mixer"}) {
    if (!m.contains(key) || !m[key].is_string()) continue;
    const std::string from_arch = models::pattern_for_arch(m[key].get<std::string>());
    if (!from_arch.empty()) return from_arch;
  }
  return "A";
}

bool passes(const std::string& value, const lab::condition& c) {
  const auto number = [](const std::string& s, double& out) {
    char* end = nullptr;
    out = std::strtod(s.c_str(), &end);
    return !s.empty() && *end == '\0';
  };
  double a = 0, b = 0;
  const bool numeric = number(value, a) && number(c.values[0], b);
  if (c.op == "=") return numeric ? a == b : value == c.values[0];
  if (c.op == "!=") return numeric ? a != b : value != c.values[0];
  if (c.op == "~") return std::regex_match(value, std::regex(c.values[0]));
  if (c.op == "in") {
    for (const auto& v : c.values)
      if (number(value, a) && number(v, b) ? a == b : value == v) return true;
    return false;
  }
  if (!numeric) return false;
  if (c.op == "<") return a < b;
  if (c.op == "<=") return a <= b;
  if (c.op == ">") return a > b;
  return a >= b;
}

}  // namespace

bool in_group(const variant& v, const lab::variant_group* g) {
  if (!g) return true;
  for (const auto& c : g->all_of) {
    const auto it = v.attrs.find(c.key);
    if (it == v.attrs.end() ? c.op != "!=" : !passes(it->second, c)) return false;
  }
  return true;
}

std::string resolved_slice(const experiment_data& d, const lab::metric_ref& m) {
  if (m.slice.empty()) return "all";
  if (m.slice == "hardest") return d.slices.empty() ? "" : d.slices.back().name;
  if (m.slice == "easiest") return d.slices.empty() ? "" : d.slices.front().name;
  return m.slice;
}

std::vector<double> metric_values(const experiment_data& d, const variant& v, const lab::metric_ref& m) {
  const std::string slice = resolved_slice(d, m);
  std::vector<double> out;
  if (slice.empty()) return out;
  const bool prefix = slice.back() == '*';
  const std::string pre = prefix ? slice.substr(0, slice.size() - 1) : slice;
  for (const lab_run* r : v.finished) {
    double sum = 0;
    std::size_t n = 0;
    for (const auto& e : r->evaluations) {
      if (e.split != "test" || e.metric != m.name) continue;
      if (prefix ? e.slice != "all" && e.slice.rfind(pre, 0) == 0 : e.slice == slice) sum += e.value, ++n;
    }
    if (n > 0) {
      out.push_back(sum / static_cast<double>(n));
      continue;
    }
    if (slice != "all") continue;
    // A run metric: its last logged value.
    const store::metric_point* last = nullptr;
    for (const auto& p : r->metrics)
      if (p.name == m.name && (!last || p.step >= last->step)) last = &p;
    if (last) out.push_back(last->value);
  }
  return out;
}

// ---- gathering -------------------------------------------------------------------------

experiment_data gather(const std::string& id, const std::vector<lab_run>& runs) {
  experiment_data d;
  d.id = id;
  d.runs = runs.size();
  std::vector<json> configs;
  for (const auto& r : runs) configs.push_back(r.info.config);
  const auto labels = variant_labels(configs);
  std::map<std::string, std::size_t> index;
  std::map<std::string, double> difficulty;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const auto& r = runs[i];
    auto [it, inserted] = index.try_emplace(labels[i], d.variants.size());
    if (inserted) {
      d.variants.emplace_back();
      d.variants.back().label = labels[i];
      d.variants.back().config = r.info.config;
      d.variants.back().attrs = variant_key(r.info.config);
      d.variants.back().attrs.try_emplace("model.pattern", pattern_of(r.info.config));
    }
    variant& v = d.variants[it->second];
    ++v.runs;
    const std::int64_t seed = seed_of(r.info, static_cast<std::int64_t>(i));
    if (r.info.status != store::run_status::finished) {
      ++d.failed;
      const std::string reason = r.info.status == store::run_status::failed
                                     ? (r.info.failure_reason.empty() ? "no reason recorded" : r.info.failure_reason)
                                     : std::string("not finished (") + std::string(store::to_string(r.info.status)) + ")";
      v.failures.push_back(fmt::format("seed {}: {}", seed, reason));
      continue;
    }
    v.seeds.push_back(seed);
    v.finished.push_back(&r);
    for (const auto& e : r.evaluations) {
      if (e.split == "test" && e.slice == "all" && e.metric == "accuracy") v.accuracy.push_back(e.value);
      if (e.split == "train" && e.slice == "all" && e.metric == "accuracy") v.train_accuracy.push_back(e.value);
      if (e.split == "test" && e.slice != "all" && e.metric == "accuracy") {
        v.slice_acc[e.slice].push_back(e.value);
        difficulty.try_emplace(e.slice, NAN);
      }
      if (e.split == "test" && e.slice != "all" && e.metric == "difficulty") difficulty[e.slice] = e.value;
      if (e.split.rfind("test@", 0) == 0 && e.slice != "all" && e.metric == "accuracy")
        v.rescaled_slice_acc[e.split.substr(5)][e.slice].push_back(e.value);
    }
    for (const auto& m : r.metrics) {
      if (m.name == "final_train_loss") v.final_loss.push_back(m.value);
      if (m.name == "n_params") v.params.push_back(m.value);
      if (m.name == "train_flops") v.train_flops.push_back(m.value);
      if (m.name == "steps") v.steps.push_back(m.value);
    }
  }
  for (auto& v : d.variants) v.acc = stat_of(v.accuracy);
  for (const auto& [name, diff] : difficulty) d.slices.push_back({name, diff});
  std::stable_sort(d.slices.begin(), d.slices.end(), [](const slice_info& a, const slice_info& b) {
    const double da = std::isnan(a.difficulty) ? INFINITY : a.difficulty;
    const double db = std::isnan(b.difficulty) ? INFINITY : b.difficulty;
    return da != db ? da < db : a.name < b.name;
  });
  return d;
}

std::string seed_flag(std::size_t n) {
  if (n == 1) return "n = 1: no interval";
  if (n == 2) return "n = 2: fewer than 3 seeds";
  return "";
}

namespace {

std::string join(const std::vector<std::string>& v, const std::string& sep);

// ---- sentences -------------------------------------------------------------------------

std::string answer_sentence(const experiment_data& d) {
  std::vector<const variant*> done;
  for (const auto& v : d.variants)
    if (!v.accuracy.empty()) done.push_back(&v);
  std::string s;
  if (done.empty()) {
    const std::size_t finished = d.runs - d.failed;
    // A lab runner's runs (a collapse loop) may finish without any accuracy: say so, not "failed".
    if (finished > 0)
      return fmt::format("{} of {} runs finished; they record no test accuracy (this experiment's measurements are the "
                         "metrics its verdict reads).",
                         finished, d.runs);
    s = fmt::format("No run finished with a test accuracy: {} of {} runs failed (listed in the table).", d.failed, d.runs);
    return s;
  }
  std::stable_sort(done.begin(), done.end(), [](const variant* a, const variant* b) { return a->acc.mean > b->acc.mean; });
  std::size_t nmin = SIZE_MAX, nmax = 0;
  for (const auto* v : done) nmin = std::min(nmin, v->acc.n), nmax = std::max(nmax, v->acc.n);
  if (done.size() == 1) {
    s = fmt::format("{} reached {} test accuracy ({}).", done[0]->label == "all runs" ? "All runs" : done[0]->label,
                    mean_pm(done[0]->acc), nmin < 3 ? seed_flag(nmin) : fmt::format("{} seeds", nmin));
  } else {
    const std::string seeds = nmin == nmax ? fmt::format("{} seed{} each", nmin, nmin == 1 ? "" : "s")
                                           : fmt::format("{}-{} seeds per variant", nmin, nmax);
    s = fmt::format("Best: {} at {} test accuracy; worst: {} at {} ({}).", done.front()->label,
                    mean_pm(done.front()->acc), done.back()->label, mean_pm(done.back()->acc), seeds);
  }
  std::vector<std::string> few;
  for (const auto* v : done)
    if (done.size() > 1 && v->acc.n < 3) few.push_back(fmt::format("{} ({})", v->label, seed_flag(v->acc.n)));
  if (!few.empty()) s += " Fewer than 3 seeds: " + join(few, ", ") + ".";
  if (d.failed > 0)
    s += fmt::format(" {} of {} runs failed (listed in the table).", d.failed, d.runs);
  return s;
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

// The question paragraph: English question, the notes' own note, and the wrong/imprecise
// claims of the notes ("The notes say X; the sources say Y").
std::string question_text(const std::string& id, const json* q, const lab_notes& notes, const std::vector<lab_run>& runs) {
  std::string s;
  if (q) {
    s = q->value("question_en", "");
    if (q->contains("note")) s += " Note: " + (*q)["note"].get<std::string>();
    for (const auto& cid : q->value("related_claims", std::vector<std::string>{})) {
      const json* c = find_by_id(notes.claims, "claims", cid);
      if (!c) continue;
      const std::string verdict = c->value("verdict", "");
      if (verdict != "wrong" && verdict != "imprecise") continue;
      s += fmt::format(" [{} claim, line {}] The notes say \"{}\"; the sources say: {} ({})", verdict,
                       c->contains("line") ? (*c)["line"].dump() : "?", c->value("claim_en", ""),
                       c->value("correction", ""), c->value("source", ""));
    }
  } else {
    for (const auto& r : runs)
      if (r.info.config.contains("question") && r.info.config["question"].is_string()) {
        s = r.info.config["question"].get<std::string>();
        break;
      }
    s += (s.empty() ? "" : " ") + fmt::format("(No entry for '{}' in data/notes/questions.json.)", id);
  }
  return s;
}

std::string file_id(const std::string& experiment) {
  std::string s;
  for (char c : experiment) {
    const char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    s += (std::isalnum(static_cast<unsigned char>(l)) || l == '_' || l == '-') ? l : '-';
  }
  if (s.empty() || !std::isalnum(static_cast<unsigned char>(s[0]))) s = "x" + s;
  return s;
}

// Orders a categorical x axis (slices by difficulty) in every layer of a builder spec.
void sort_x(json& spec, const std::vector<std::string>& order) {
  if (spec.contains("encoding") && spec["encoding"].contains("x")) spec["encoding"]["x"]["sort"] = order;
  if (spec.contains("layer"))
    for (auto& l : spec["layer"]) sort_x(l, order);
}

// Integer display without a decimal point (parameter counts).
cell count_cell(double v) {
  cell c(static_cast<std::int64_t>(std::llround(v)));
  return c;
}

}  // namespace

// ---- the section -----------------------------------------------------------------------

namespace {

// Draws the 95% CI over seeds (columns lo, hi) with a builder's single-layer spec: a rule per
// bar, or a faint band under each line, sharing its x, y scale and colour.
void draw_interval(figure& f, const std::string& lo, const std::string& hi, bool band) {
  const json base = {{"mark", f.spec["mark"]}, {"encoding", f.spec["encoding"]}};
  json y = {{"field", lo}, {"type", "quantitative"}};
  for (const char* k : {"title", "scale"})
    if (base["encoding"]["y"].contains(k)) y[k] = base["encoding"]["y"][k];
  json enc = {{"x", base["encoding"]["x"]}, {"y", y}, {"y2", {{"field", hi}}}};
  for (const char* k : {"color", "xOffset"})
    if (base["encoding"].contains(k)) enc[k] = base["encoding"][k];
  if (enc.contains("color")) enc["color"]["legend"] = nullptr;  // the data layer's legend, unfaded
  const json mark = band ? json{{"type", "area"}, {"opacity", 0.18}} : json{{"type", "rule"}, {"strokeWidth", 1.5}};
  const json ci = {{"mark", mark}, {"encoding", enc}};
  f.spec.erase("mark");
  f.spec.erase("encoding");
  f.spec["layer"] = band ? json::array({ci, base}) : json::array({base, ci});
}

// (1) loss curves: mean over seeds per (variant, step).
void add_loss_figure(section& s, const std::string& fid, const std::vector<lab_run>& runs,
                     const std::map<std::string, std::string>& label_of) {
  table loss_rows({"variant", "step", "train_loss"});
  for (const auto& r : runs) {
    if (r.info.status != store::run_status::finished) continue;
    for (const auto& m : r.metrics)
      if (m.name == "train_loss") loss_rows.add_row({label_of.at(r.info.name), m.step, m.value});
  }
  if (loss_rows.rows().empty()) return;
  table t = mean_ci_by_group(loss_rows, {"variant", "step"}, "train_loss");
  figure f = line_plot(fid + "-loss", "Training loss (mean and 95% CI over seeds)", std::move(t),
                       axis("step", "training step"), axis("mean", "train loss"), "variant");
  draw_interval(f, "lo", "hi", true);
  f.caption = "One line per variant; the band is the Student-t 95% CI over seeds (none with one seed; the CSV has n).";
  s.figures.push_back(std::move(f));
}

// Test accuracy per (variant, slice, seed), with the RoPE-rescaled evaluations of the same
// checkpoints as their own series "<variant> @yarn:4".
table slice_rows_of(const experiment_data& d) {
  table rows({"variant", "slice", "difficulty", "accuracy"});
  auto add = [&](const std::string& label, const slice_info& sl, const std::vector<double>& values) {
    for (double a : values) rows.add_row({label, sl.name, std::isnan(sl.difficulty) ? cell("") : cell(sl.difficulty), a});
  };
  for (const auto& sl : d.slices)
    for (const auto& v : d.variants)
      if (const auto it = v.slice_acc.find(sl.name); it != v.slice_acc.end()) add(v.label, sl, it->second);
  for (const auto& v : d.variants)
    for (const auto& [how, per_slice] : v.rescaled_slice_acc)
      for (const auto& sl : d.slices)
        if (const auto it = per_slice.find(sl.name); it != per_slice.end()) add(v.label + " @" + how, sl, it->second);
  return rows;
}

// A numeric axis when every slice has its own difficulty (kv=4, kv=16 ... -> 4, 16),
// log-scaled when the values span 8x or more; else the slice names in difficulty order.
axis slice_axis(const experiment_data& d, bool& numeric) {
  std::set<double> diffs;
  std::set<std::string> prefixes;
  numeric = true;
  for (const auto& sl : d.slices) {
    numeric = numeric && !std::isnan(sl.difficulty);
    diffs.insert(sl.difficulty);
    const auto eq = sl.name.find('=');
    prefixes.insert(eq == std::string::npos ? "" : sl.name.substr(0, eq));
  }
  numeric = numeric && diffs.size() == d.slices.size() && d.slices.size() >= 2;
  const std::string what = prefixes.size() == 1 && !prefixes.begin()->empty() ? *prefixes.begin() : "difficulty";
  axis x = numeric ? axis("difficulty", what + " (slice difficulty)") : axis("slice", "difficulty slice").ordinal();
  if (numeric && *diffs.begin() > 0 && *diffs.rbegin() >= 8 * *diffs.begin()) x.log_scale();
  return x;
}

// (2) accuracy per slice with mean ± 95% CI over seeds; (3) the same as a heatmap.
void add_slice_figures(section& s, const std::string& fid, const experiment_data& d, bool errors, bool heat) {
  const table rows = slice_rows_of(d);
  if (rows.rows().empty()) return;
  std::vector<std::string> slice_order;
  for (const auto& sl : d.slices) slice_order.push_back(sl.name);
  table t = mean_ci_by_group(rows, {"variant", "slice", "difficulty"}, "accuracy");
  if (errors) {
    // Accuracy lives in [0, 1]; a t-interval over 2-3 seeds can reach past it, so the plotted
    // interval is clipped there (the columns say so).
    table plotted({"variant", "slice", "difficulty", "mean", "lo_clipped", "hi_clipped", "n"});
    for (const auto& r : t.rows())
      plotted.add_row({r[0], r[1], r[2], r[3], std::clamp(*r[4].number, 0.0, 1.0), std::clamp(*r[5].number, 0.0, 1.0), r[6]});
    bool numeric = false;
    const axis x = slice_axis(d, numeric);
    figure f = error_bar_plot(fid + "-slices", "Test accuracy per difficulty slice (mean ± 95% CI over seeds)",
                              std::move(plotted), x, axis("mean", "test accuracy").with_domain(0, 1), "lo_clipped",
                              "hi_clipped", "variant");
    if (!numeric) {
      sort_x(f.spec, slice_order);
      for (auto& l : f.spec["layer"]) l["encoding"]["x"]["axis"]["labelAngle"] = 0;
      f.spec["layer"][1]["mark"]["ticks"] = {{"size", 10}};  // caps, not band-wide lines
    }
    f.caption = "Error bars: Student-t 95% intervals over seeds, clipped to [0, 1].";
    s.figures.push_back(std::move(f));
  }
  if (heat) {
    figure h = heatmap(fid + "-heatmap", "Test accuracy by slice × variant (mean over seeds)", t,
                       axis("slice", "difficulty slice").ordinal(), axis("variant").nominal(),
                       axis("mean", "accuracy").with_domain(0, 1));
    sort_x(h.spec, slice_order);
    h.caption = "Cells: mean over seeds; the CSV holds each cell's 95% CI over seeds (lo, hi) and the seed count n.";
    s.figures.push_back(std::move(h));
  }
}

// (4) final test accuracy per variant, and the table of variants.
void add_final_figure_and_table(section& s, const std::string& fid, const experiment_data& d, bool bars_wanted) {
  table bars({"variant", "mean", "lo", "hi", "n", "lo_clipped", "hi_clipped", "seeds flag"});
  table runs_table({"variant", "seeds", "finished", "failed", "params", "steps", "train FLOPs", "test accuracy", "test accuracy mean",
                    "ci95 half-width", "seeds flag", "train accuracy", "final train loss", "failures"});
  for (const auto& v : d.variants) {
    if (!v.accuracy.empty())
      bars.add_row({v.label, v.acc.mean, v.acc.lo, v.acc.hi, v.acc.n, std::clamp(v.acc.lo, 0.0, 1.0),
                    std::clamp(v.acc.hi, 0.0, 1.0), seed_flag(v.acc.n)});
    std::vector<std::string> seeds;
    for (auto sd : v.seeds) seeds.push_back(std::to_string(sd));
    runs_table.add_row({v.label, join(seeds, ","), v.seeds.size(), v.failures.size(),
                        v.params.empty() ? cell("") : count_cell(stat_of(v.params).mean),
                        v.steps.empty() ? cell("") : count_cell(stat_of(v.steps).mean),
                        v.train_flops.empty() ? cell("") : cell(fmt::format("{:.3g}", stat_of(v.train_flops).mean)),
                        v.accuracy.empty() ? cell("-") : cell(mean_pm(v.acc)),
                        v.accuracy.empty() ? cell("") : cell(v.acc.mean),
                        v.acc.n >= 2 ? cell(v.acc.half()) : cell(""),
                        cell(seed_flag(v.finished.size())),
                        v.train_accuracy.empty() ? cell("") : cell(stat_of(v.train_accuracy).mean),
                        v.final_loss.empty() ? cell("") : cell(stat_of(v.final_loss).mean),
                        v.failures.empty() ? cell("") : cell(join(v.failures, "; "))});
  }
  if (bars_wanted && !bars.rows().empty()) {
    figure f = bar_chart(fid + "-final", "Final test accuracy per variant (mean and 95% CI over seeds)", std::move(bars),
                         axis("variant").nominal(), axis("mean", "test accuracy").with_domain(0, 1));
    draw_interval(f, "lo_clipped", "hi_clipped", false);
    f.caption = "Error bars: Student-t 95% intervals over seeds, clipped to [0, 1]; a variant with fewer than 3 seeds "
                "is flagged in the CSV and the runs table (n = 1: no interval).";
    s.figures.push_back(std::move(f));
  }
  s.tables.push_back({fid + "-runs", "Runs per variant (mean ± 95% CI over seeds; failed runs with their reason)",
                      std::move(runs_table)});
}

// (5, opt-in: "metrics") every test metric of every slice, one row per (variant, slice) and one
// column per metric, as mean ± Student-t 95% CI half-width over seeds (n seeds); slices by name
// with "all" last, metrics by name. For experiments whose slices carry more than accuracy
// (precision, F1, paired differences and the like).
void add_metrics_table(section& s, const std::string& fid, const experiment_data& d) {
  std::vector<std::string> slices, metrics;
  std::map<std::string, std::map<std::pair<std::string, std::string>, std::vector<double>>> values;  // variant -> (slice, metric)
  auto note = [](std::vector<std::string>& order, const std::string& name) {
    if (std::find(order.begin(), order.end(), name) == order.end()) order.push_back(name);
  };
  for (const auto& v : d.variants)
    for (const lab_run* r : v.finished)
      for (const auto& e : r->evaluations) {
        if (e.split != "test" || e.metric == "difficulty") continue;
        note(slices, e.slice), note(metrics, e.metric);
        values[v.label][{e.slice, e.metric}].push_back(e.value);
      }
  if (metrics.empty()) return;
  std::sort(metrics.begin(), metrics.end());
  std::sort(slices.begin(), slices.end(), [](const std::string& a, const std::string& b) {
    return (a == "all") != (b == "all") ? b == "all" : a < b;
  });
  std::vector<std::string> columns = {"variant", "slice", "seeds"};
  columns.insert(columns.end(), metrics.begin(), metrics.end());
  table t(columns);
  for (const auto& v : d.variants)
    for (const auto& sl : slices) {
      std::vector<cell> row = {v.label, sl};
      std::size_t n = 0;
      for (const auto& m : metrics) {
        const auto& per = values[v.label];
        const auto it = per.find({sl, m});
        if (it == per.end()) {
          row.push_back("");
          continue;
        }
        const seed_stat st = stat_of(it->second);
        n = std::max(n, st.n);
        row.push_back(st.n >= 2 ? fmt::format("{:.3f} ± {:.3f}", st.mean, st.half()) : fmt::format("{:.3f}", st.mean));
      }
      if (n == 0) continue;
      row.insert(row.begin() + 2, cell(n));
      t.add_row(std::move(row));
    }
  s.tables.push_back({fid + "-metrics", "Test metrics per slice (mean ± 95% CI half-width over seeds)", std::move(t)});
}

// x = "step": a run metric y over training steps, mean and 95% CI over seeds per (series, step).
void add_step_plot(section& s, const std::string& fid, const experiment_data& d, const lab::plot_spec& p) {
  table rows({"series", "step", p.y.name});
  for (const auto& v : d.variants) {
    const auto it = v.attrs.find(p.series);
    const std::string series = p.series.empty() ? v.label : it == v.attrs.end() ? "-" : it->second;
    for (const lab_run* r : v.finished)
      for (const auto& m : r->metrics)
        if (m.name == p.y.name) rows.add_row({series, m.step, m.value});
  }
  if (rows.rows().empty()) return;
  figure f = line_plot(fid + "-" + p.id, p.title, mean_ci_by_group(rows, {"series", "step"}, p.y.name),
                       axis("step", "training step"), axis("mean", p.y.name + " (mean over seeds)"), "series");
  draw_interval(f, "lo", "hi", true);
  f.caption = fmt::format("One line per series; the band is the Student-t 95% CI of {} over seeds.", p.y.name);
  s.figures.push_back(std::move(f));
}

// x = "slice": the test evaluations of metric y whose slice matches y's slice (PREFIX*, exact,
// or none: every slice). A slice "KEY=NUM" or "GROUP/KEY=NUM" gives a line over NUM per GROUP
// (per variant too when there are several); a slice "ROW=NUM/COL=NUM" gives a heatmap of rows
// x columns: one grid for all variants when no two variants log the same cell (a sweep whose
// runs each fill their own cell), else rows per variant. Mean (and 95% CI) over seeds.
void add_slice_plot(section& s, const std::string& fid, const experiment_data& d, const lab::plot_spec& p) {
  const bool prefix = !p.y.slice.empty() && p.y.slice.back() == '*';
  const std::string pre = prefix ? p.y.slice.substr(0, p.y.slice.size() - 1) : p.y.slice;
  auto number_after_eq = [](const std::string& part, std::string& key, double& out) {
    const auto eq = part.rfind('=');
    if (eq == std::string::npos) return false;
    key = part.substr(0, eq);
    char* end = nullptr;
    const std::string v = part.substr(eq + 1);
    out = std::strtod(v.c_str(), &end);
    return !v.empty() && *end == '\0';
  };
  table line_rows({"series", "x", p.y.name}), heat_rows({"row", "col", p.y.name});
  std::string x_key, row_key, col_key;
  struct heat_cell {
    std::string variant, row;
    double a, b, value;
  };
  std::vector<heat_cell> cells;
  for (const auto& v : d.variants)
    for (const lab_run* r : v.finished)
      for (const auto& e : r->evaluations) {
        if (e.split != "test" || e.metric != p.y.name || e.slice == "all") continue;
        if (!pre.empty() && (prefix ? e.slice.rfind(pre, 0) != 0 : e.slice != pre)) continue;
        const auto slash = e.slice.rfind('/');
        const std::string group = slash == std::string::npos ? "" : e.slice.substr(0, slash);
        const std::string last = slash == std::string::npos ? e.slice : e.slice.substr(slash + 1);
        std::string k1, k2;
        double a = 0, b = 0;
        if (!number_after_eq(last, k2, b)) continue;
        const std::string who = d.variants.size() > 1 ? v.label : "";
        if (number_after_eq(group, k1, a) && group.find('/') == std::string::npos) {
          row_key = k1, col_key = k2;
          cells.push_back({who, group.substr(k1.size() + 1), a, b, e.value});
        } else {
          x_key = k2;
          const std::string series = who.empty() ? (group.empty() ? p.y.name : group) : group.empty() ? who : who + " " + group;
          line_rows.add_row({series, b, e.value});
        }
      }
  std::map<std::pair<double, double>, std::string> owner;
  bool pooled = true;
  for (const auto& c : cells)
    if (const auto [it, fresh] = owner.emplace(std::pair{c.a, c.b}, c.variant); !fresh && it->second != c.variant) pooled = false;
  for (const auto& c : cells)
    heat_rows.add_row({pooled || c.variant.empty() ? cell(c.a) : cell(c.variant + " " + row_key + "=" + c.row), c.b, c.value});
  if (!heat_rows.rows().empty()) {
    figure h = heatmap(fid + "-" + p.id, p.title, mean_ci_by_group(heat_rows, {"row", "col"}, p.y.name),
                       axis("col", col_key).ordinal(), axis("row", row_key).ordinal(), axis("mean", p.y.name));
    h.caption = fmt::format("Cells: mean of {} over seeds; the CSV holds each cell's 95% CI (lo, hi) and n.", p.y.name);
    s.figures.push_back(std::move(h));
    return;
  }
  if (line_rows.rows().empty()) return;
  axis x("x", x_key);
  if (p.log_x) x.log_scale();
  figure f = error_bar_plot(fid + "-" + p.id, p.title, mean_ci_by_group(line_rows, {"series", "x"}, p.y.name), x,
                            axis("mean", p.y.name + " (mean over seeds)"), "lo", "hi", "series");
  f.caption = fmt::format("Error bars: Student-t 95% intervals of {} over seeds.", p.y.name);
  s.figures.push_back(std::move(f));
}

// A [[report.plot]]: one point per variant at (mean x, mean y ± 95% CI of y over seeds), joined
// per series (a config key's value, or the variant label); x = "step" and x = "slice" above.
void add_plot(section& s, const std::string& fid, const experiment_data& d, const lab::plot_spec& p) {
  if (p.x.name == "step" && p.x.slice.empty()) return add_step_plot(s, fid, d, p);
  if (p.x.name == "slice" && p.x.slice.empty()) return add_slice_plot(s, fid, d, p);
  table t({"series", "variant", p.x.text(), "mean", "lo", "hi", "n"});
  std::vector<std::pair<double, std::vector<cell>>> rows;
  // x and y both "@each": one point per variant and slice (a curve per variant across its
  // slices, e.g. gold against sqrt(KL) over best-of-n's n); otherwise one point per variant.
  // The slices: those with an accuracy (d.slices), then any other test slice where y is logged
  // (test-time compute logs pass/majority per "k=K" and no accuracy there).
  const bool per_slice = p.x.slice == "each" && p.y.slice == "each";
  std::vector<std::string> slices{""};
  if (per_slice) {
    slices.clear();
    for (const auto& sl : d.slices) slices.push_back(sl.name);
    for (const auto& v : d.variants)
      for (const lab_run* r : v.finished)
        for (const auto& e : r->evaluations)
          if (e.split == "test" && e.slice != "all" && e.metric == p.y.name &&
              std::find(slices.begin(), slices.end(), e.slice) == slices.end())
            slices.push_back(e.slice);
  }
  for (const auto& v : d.variants)
    for (const auto& sl : slices) {
      const lab::metric_ref mx = per_slice ? lab::metric_ref{p.x.name, sl} : p.x;
      const lab::metric_ref my = per_slice ? lab::metric_ref{p.y.name, sl} : p.y;
      const auto xs = metric_values(d, v, mx), ys = metric_values(d, v, my);
      if (xs.empty() || ys.empty()) continue;
      const seed_stat x = stat_of(xs), y = stat_of(ys);
      const auto it = v.attrs.find(p.series);
      const std::string series = p.series.empty() ? v.label : it == v.attrs.end() ? "-" : it->second;
      rows.push_back({x.mean, {series, per_slice ? v.label + " " + sl : v.label, x.mean, y.mean, y.lo, y.hi, y.n}});
    }
  if (rows.empty()) return;
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& r : rows) t.add_row(std::move(r.second));
  axis x(p.x.text(), p.x.text());
  if (p.log_x) x.log_scale();
  const bool unit = p.y.name.find("accuracy") != std::string::npos;
  axis y("mean", p.y.text() + " (mean over seeds)");
  if (unit) y.with_domain(0, 1);
  figure f = error_bar_plot(fid + "-" + p.id, p.title, std::move(t), x, y, "lo", "hi", "series");
  f.caption = fmt::format("One point per variant{} (the CSV names it); error bars: Student-t 95% intervals of {} over seeds.",
                          per_slice ? " and slice" : "", p.y.text());
  s.figures.push_back(std::move(f));
}

// Where the question, its quote and its claims come from: questions.json by the meta's id.
void add_question(section& s, const std::string& experiment, const std::string& question_id, const lab_notes& notes,
                  const std::vector<lab_run>& runs) {
  const json* q = find_by_id(notes.questions, "questions", question_id);
  s.question = question_text(question_id, q, notes, runs);
  if (!q) return;
  s.quote = join(q->value("quotes", std::vector<std::string>{q->value("quote", "")}), " … ");
  std::vector<std::string> lines;
  for (const auto& l : q->value("lines", json::array())) lines.push_back(l.dump());
  s.quote_source = fmt::format("{}, line{} {} ({})", notes.questions.value("notes", "shared/seed/open-problems.ko.md"),
                               lines.size() == 1 ? "" : "s", join(lines, ", "), q->value("section", ""));
}

std::string comparison_text(const experiment_data& d, const lab::report_meta& meta, std::optional<verdict>& out) {
  if (!meta.expect) {
    out = verdict{"undecided: no published result is recorded for '" + d.id + "'", ""};
    return out->sentence();
  }
  const lab::expectation& e = *meta.expect;
  std::string rule = e.summary;
  if (rule.empty())
    for (const auto& c : e.rules)
      rule += (rule.empty() ? "" : "; ") + fmt::format("{} {} {}", c.left.text, c.op, c.right.text);
  out = agreement(d, e);
  return fmt::format("Published: {} ({}). Rule: {}. ", e.published, e.citation, rule) + out->sentence();
}

bool wants(const lab::report_meta& meta, const char* figure) {
  return std::find(meta.figures.begin(), meta.figures.end(), figure) != meta.figures.end();
}

}  // namespace

section lab_experiment_section(const std::string& experiment, const std::vector<lab_run>& runs, const lab_notes& notes,
                               const lab::report_meta* meta) {
  lab::report_meta none;
  none.title = none.question = experiment;
  const lab::report_meta& m = meta ? *meta : none;
  const experiment_data d = gather(experiment, runs);
  const std::string fid = file_id(experiment);
  section s;
  s.id = fid;
  s.title = m.title;
  add_question(s, experiment, m.question, notes, runs);
  s.answer = answer_sentence(d);
  s.question_id = m.question;
  s.comparison = comparison_text(d, m, s.outcome);

  std::map<std::string, std::string> label_of;
  {
    std::vector<json> configs;
    for (const auto& r : runs) configs.push_back(r.info.config);
    const auto labels = variant_labels(configs);
    for (std::size_t i = 0; i < runs.size(); ++i) label_of[runs[i].info.name] = labels[i];
  }
  if (wants(m, "loss")) add_loss_figure(s, fid, runs, label_of);
  add_slice_figures(s, fid, d, wants(m, "slices"), wants(m, "heatmap"));
  add_final_figure_and_table(s, fid, d, wants(m, "final"));
  if (wants(m, "metrics")) add_metrics_table(s, fid, d);
  for (const auto& p : m.plots) add_plot(s, fid, d, p);
  return s;
}

// ---- the archived full size ------------------------------------------------------------

namespace {

std::string short_hash(const std::string& h) { return h.substr(0, std::min<std::size_t>(h.size(), 12)); }

std::string archive_cmd(const lab::run_archive& a) {
  return a.command.empty() ? "lmlab lab archive SPEC --size " + a.size + " --store STORE" : a.command;
}

}  // namespace

full_size_text full_size_paragraph(const std::string& experiment, const std::filesystem::path& archive,
                                   const lab::report_meta* meta, const std::optional<verdict>& quick,
                                   const std::vector<lab_run>& quick_runs) {
  full_size_text out;
  std::string why;
  if (meta && meta->expect && !meta->expect->quick_limit.empty() && quick && quick->word.rfind("undecided", 0) == 0)
    why = "Why the quick size cannot decide: " + meta->expect->quick_limit;
  auto done = [&](std::string full) {
    out.text = why;
    if (!full.empty()) out.text += (out.text.empty() ? "" : (out.text.back() == '.' ? " " : ". ")) + full;
    return out;
  };
  if (archive.empty() || !std::filesystem::exists(archive)) return done("");
  lab::run_archive a;
  try {
    a = lab::read_archive(archive);
    LMLAB_CHECK_HINT(a.experiment == experiment, "name the file <experiment>.jsonl",
                     "{}:1: the archive is of experiment '{}', not '{}'", archive.string(), a.experiment, experiment);
  } catch (const lmlab::error& e) {
    out.warnings.push_back(e.what());
    return done(fmt::format("Full size: not shown, the archive could not be read ({}).", e.what()));
  }
  std::set<std::string> quick_names, archived_names;
  for (const auto& r : quick_runs) quick_names.insert(r.info.name);
  for (const auto& r : a.runs) archived_names.insert(r.info.name);
  if (quick_names == archived_names) return done("");  // the store shown is the archived one
  std::string incomplete;
  if (meta && !meta->files.empty()) {
    try {
      const lab::archive_match m = lab::match_archive(a, lab::size_run_ids(meta->files, a.size));
      if (!m.matches()) {
        const std::string msg = fmt::format("{}: the archive does not match the experiment's spec at size '{}': {}",
                                            archive.string(), a.size, m.describe(a.runs.size()));
        out.warnings.push_back(msg + "; re-run and re-archive (" + archive_cmd(a) + ")");
        return done(fmt::format("Full size (archived {} at {}): not shown, {}; re-run and re-archive ({}).",
                                a.date.substr(0, 10), short_hash(a.commit), msg, archive_cmd(a)));
      }
      if (!m.missing.empty()) incomplete = fmt::format(" Incomplete: {}.", m.describe(a.runs.size()));
    } catch (const lmlab::error& e) {
      out.warnings.push_back(fmt::format("{}: checking it against the spec: {}", archive.string(), e.what()));
    }
  }
  std::vector<lab_run> runs;
  std::set<std::int64_t> seeds;
  double cpu = 0;
  for (auto& r : a.runs) {
    if (r.info.config.contains("seed") && r.info.config["seed"].is_number_integer())
      seeds.insert(r.info.config["seed"].get<std::int64_t>());
    for (const auto& p : r.metrics)
      if (p.name == "cpu_seconds" && std::isfinite(p.value)) cpu += p.value;
    runs.push_back({std::move(r.info), std::move(r.metrics), std::move(r.evaluations)});
  }
  const experiment_data d = gather(experiment, runs);
  std::string text = fmt::format("Full size (archived {} at {}, {} seed{}, {} runs, {:.0f} CPU-s; {}): ", a.date.substr(0, 10),
                                 short_hash(a.commit), seeds.size(), seeds.size() == 1 ? "" : "s", runs.size(), cpu,
                                 archive.generic_string());
  if (meta && meta->expect) {
    out.archived = agreement(d, *meta->expect);
    text += out.archived->sentence() + " ";
  }
  text += "Key numbers: " + answer_sentence(d) + incomplete;
  return done(text);
}

// ---- the store -------------------------------------------------------------------------

namespace {

std::string experiment_of(const store::run_info& r) {
  if (r.config.contains("experiment") && r.config["experiment"].is_string()) return r.config["experiment"].get<std::string>();
  const auto slash = r.name.find('/');
  return slash == std::string::npos ? r.name : r.name.substr(0, slash);
}

}  // namespace

std::vector<std::string> lab_experiments(store::results_store& db, const lab_notes& notes,
                                         const std::map<std::string, lab::report_meta>& metas) {
  std::set<std::string> present;
  for (const auto& r : db.list_runs("lab")) present.insert(experiment_of(r));
  auto question_of = [&](const std::string& e) {
    const auto it = metas.find(e);
    return it == metas.end() ? e : it->second.question;
  };
  std::vector<std::string> out;
  if (notes.questions.is_object() && notes.questions.contains("questions"))
    for (const auto& q : notes.questions["questions"]) {
      const std::string id = q.value("id", "");
      for (auto it = present.begin(); it != present.end();)
        if (question_of(*it) == id) out.push_back(*it), it = present.erase(it);
        else ++it;
    }
  out.insert(out.end(), present.begin(), present.end());
  return out;
}

std::vector<section> lab_report_sections(store::results_store& db, const lab_report_options& opt) {
  const lab_notes notes = load_lab_notes(opt.notes_dir);
  std::set<std::string> ids;
  for (const auto& q : notes.questions["questions"]) ids.insert(q.value("id", ""));
  const auto metas = lab::load_experiment_metas(opt.experiments_dir, &ids, (opt.notes_dir / "questions.json").string());
  const auto all_runs = db.list_runs("lab");
  LMLAB_CHECK_HINT(!all_runs.empty(), "run an experiment first: lmlab lab run experiments/<name>.toml --store " + db.path().string(),
                   "report: {}: the store has no lab runs", db.path().string());
  const auto present = lab_experiments(db, notes, metas);
  std::vector<std::string> chosen = present;
  if (!opt.filter.empty()) {
    for (const auto& f : opt.filter)
      LMLAB_CHECK_HINT(std::find(present.begin(), present.end(), f) != present.end(),
                       "experiments in the store: " + join(present, ", "),
                       "report: --filter: no lab runs of experiment '{}' in {}", f, db.path().string());
    chosen.clear();
    for (const auto& p : present)
      if (std::find(opt.filter.begin(), opt.filter.end(), p) != opt.filter.end()) chosen.push_back(p);
  }
  std::vector<section> out;
  for (const auto& e : chosen) {
    std::vector<lab_run> runs;
    for (const auto& r : all_runs) {
      if (experiment_of(r) != e) continue;
      runs.push_back({r, db.metrics(r.id), db.evaluations(r.id)});
    }
    const auto it = metas.find(e);
    const lab::report_meta* meta = it == metas.end() ? nullptr : &it->second;
    section s = lab_experiment_section(e, runs, notes, meta);
    const auto full = full_size_paragraph(e, opt.archive_dir.empty() ? opt.archive_dir : opt.archive_dir / (e + ".jsonl"),
                                          meta, s.outcome, runs);
    s.full_size = full.text;
    for (const auto& w : full.warnings) std::fprintf(stderr, "report: warning: %s\n", w.c_str());
    out.push_back(std::move(s));
  }
  return out;
}

document lab_report_document(store::results_store& db, const lab_report_options& opt) {
  document doc;
  doc.title = "lmlab report";
  doc.subtitle = "What lmlab has found about the open questions of the notes: the map of the notes first, then the "
                 "planner's corrections, the fact-check, one section per lab experiment (small models, seeds and 95% CIs) "
                 "and the served-model probes";
  doc.sections = lab_report_sections(db, opt);
  const auto runs = db.list_runs("lab");
  std::size_t finished = 0;
  std::set<std::string> git, hosts;
  for (const auto& r : runs) {
    finished += r.status == store::run_status::finished;
    if (!r.git_hash.empty()) git.insert(r.git_hash);
    if (!r.host.empty()) hosts.insert(r.host);
  }
  doc.provenance.emplace_back("store", db.path().string());
  doc.provenance.emplace_back("lab runs", fmt::format("{} ({} finished)", runs.size(), finished));
  if (!git.empty()) doc.provenance.emplace_back("git", join({git.begin(), git.end()}, ", "));
  if (!hosts.empty()) doc.provenance.emplace_back("host", join({hosts.begin(), hosts.end()}, ", "));
  std::time_t now = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  doc.provenance.emplace_back("generated", buf);
  return doc;
}

}  // namespace lmlab::report
