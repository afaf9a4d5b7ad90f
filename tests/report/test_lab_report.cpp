// The lab report from a hand-made results store: variant labels, sections per experiment,
// figure CSVs (means and Student-t CIs computed by hand), the answer sentence, the
// published-result agreement sentence in both directions, failed runs listed, and the errors.
#include "report/lab_report.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "lab/spec.hpp"
#include "scratch.hpp"

namespace fs = std::filesystem;
namespace rp = lmlab::report;
namespace st = lmlab::store;
using nlohmann::json;

namespace {

using namespace lmlab::report::testing;  // error_of, fresh_dir

// t_{0.975, n-1} for n = 2 and 3 seeds.
constexpr double t1 = 12.706204736174705;
constexpr double t2 = 4.302652729911275;

json config(const std::string& experiment, json model, json task, int seed) {
  return {{"model", std::move(model)},
          {"task", std::move(task)},
          {"train", {{"steps", 100}, {"lr", 0.001}}},
          {"seed", seed},
          {"experiment", experiment},
          {"question", "q"},
          {"run_id", fmt::format("r{}", seed)},
          {"derived_seed", 1000 + seed}};
}

struct fake_run {
  json cfg;
  double acc_all;
  std::vector<std::pair<std::string, double>> slices;  // (slice, accuracy); difficulty from the name
  std::vector<double> loss;                            // train_loss at steps 0, 10, 20 ...
  std::string failure;                                 // non-empty: the run failed
};

double difficulty_of(const std::string& slice) { return std::stod(slice.substr(slice.find('=') + 1)); }

void add(st::results_store& db, const std::string& name, const fake_run& r) {
  const auto id = db.create_run("lab", name, r.cfg, r.cfg["seed"].get<std::int64_t>());
  db.mark_running(id);
  for (std::size_t i = 0; i < r.loss.size(); ++i) db.log_metric(id, static_cast<std::int64_t>(10 * i), "train_loss", r.loss[i]);
  db.log_metric(id, 0, "n_params", 12345);
  db.log_metric(id, 0, "steps", 40);
  db.log_metric(id, 0, "train_flops", 2.5e9);
  if (!r.failure.empty()) {
    db.mark_failed(id, r.failure);
    return;
  }
  for (const auto& [s, a] : r.slices) {
    db.log_evaluation(id, "test", s, "accuracy", a, 50);
    db.log_evaluation(id, "test", s, "difficulty", difficulty_of(s), 50);
  }
  db.log_evaluation(id, "test", "all", "accuracy", r.acc_all, 100);
  db.log_evaluation(id, "train", "all", "accuracy", 1.0, 100);
  db.log_metric(id, 100, "final_train_loss", r.loss.back());
  db.mark_finished(id);
}

json model(const std::string& pattern) { return {{"pattern", pattern}, {"d_model", 64}, {"n_layers", 2}}; }
const json kMqar = {{"name", "mqar"}, {"num_kv_pairs", 16}};

// recall: attention (3 seeds) vs Mamba (2 finished, 1 failed); scan: simple vs length split.
fs::path make_store() {
  const fs::path p = fresh_dir("store") / "lab.db";
  fs::create_directories(p.parent_path());
  st::results_store db(p);
  add(db, "recall/a0", {config("recall", model("A"), kMqar, 0), 0.90, {{"kv=4", 1.0}, {"kv=16", 0.9}}, {3.0, 2.0, 1.0}, ""});
  add(db, "recall/a1", {config("recall", model("A"), kMqar, 1), 1.00, {{"kv=4", 1.0}, {"kv=16", 1.0}}, {3.2, 2.2, 1.2}, ""});
  add(db, "recall/a2", {config("recall", model("A"), kMqar, 2), 0.95, {{"kv=4", 0.9}, {"kv=16", 0.8}}, {3.1, 2.1, 1.1}, ""});
  add(db, "recall/m0", {config("recall", model("M"), kMqar, 0), 0.40, {{"kv=4", 0.6}, {"kv=16", 0.2}}, {2.9, 2.5, 2.0}, ""});
  add(db, "recall/m1", {config("recall", model("M"), kMqar, 1), 0.50, {{"kv=4", 0.7}, {"kv=16", 0.3}}, {3.1, 2.7, 2.2}, ""});
  add(db, "recall/m2", {config("recall", model("M"), kMqar, 2), 0, {}, {9.9}, "NaN loss at step 40"});
  const json gpt = model("A");
  for (int s : {0, 1}) {
    add(db, fmt::format("scan/simple{}", s),
        {config("scan", gpt, {{"name", "scan"}, {"split", "simple"}}, s), s ? 0.97 : 0.99, {{"actions=2", 1.0}}, {2.0, 1.0}, ""});
    add(db, fmt::format("scan/length{}", s),
        {config("scan", gpt, {{"name", "scan"}, {"split", "length"}}, s), s ? 0.2 : 0.1, {{"actions=24", 0.1}}, {2.0, 1.5}, ""});
  }
  return p;
}

std::vector<std::vector<std::string>> read_csv(const fs::path& p) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(lmlab::read_text_file(p));
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> r;
    std::string cellv;
    std::istringstream ls(line);
    while (std::getline(ls, cellv, ',')) r.push_back(cellv);
    if (!line.empty() && line.back() == ',') r.emplace_back();
    rows.push_back(r);
  }
  return rows;
}

const rp::section& by_id(const std::vector<rp::section>& s, const std::string& id) {
  for (const auto& x : s)
    if (x.id == id) return x;
  throw std::runtime_error("no section " + id);
}

// The [report]/[expect] metadata of the repository's experiments/*.toml (tests run from the
// repository root), so that these tests check the rules as the spec files write them.
const lmlab::lab::report_meta* meta_of(const std::string& experiment) {
  static const auto metas = lmlab::lab::load_experiment_metas("experiments");
  const auto it = metas.find(experiment);
  return it == metas.end() ? nullptr : &it->second;
}

// One in-memory run for lab_experiment_section.
rp::lab_run mem_run(const std::string& pattern, int seed, double hard_acc) {
  rp::lab_run r;
  r.info.name = fmt::format("recall/{}{}", pattern, seed);
  r.info.kind = "lab";
  r.info.status = st::run_status::finished;
  r.info.config = config("recall", model(pattern), kMqar, seed);
  r.evaluations = {{"test", "kv=4", "accuracy", 1.0, 10}, {"test", "kv=4", "difficulty", 4, 10},
                   {"test", "kv=64", "accuracy", hard_acc, 10}, {"test", "kv=64", "difficulty", 64, 10},
                   {"test", "all", "accuracy", (1.0 + hard_acc) / 2, 20}};
  return r;
}

}  // namespace

TEST(lab_report, variant_key_drops_replicate_keys_and_flattens) {
  const auto k = rp::variant_key(config("recall", model("MA"), kMqar, 3));
  EXPECT_EQ(k.count("seed"), 0u);
  EXPECT_EQ(k.count("run_id"), 0u);
  EXPECT_EQ(k.count("derived_seed"), 0u);
  EXPECT_EQ(k.count("experiment"), 0u);
  EXPECT_EQ(k.count("question"), 0u);
  EXPECT_EQ(k.at("model.pattern"), "MA");
  EXPECT_EQ(k.at("model.d_model"), "64");
  EXPECT_EQ(k.at("task.num_kv_pairs"), "16");
  EXPECT_EQ(k.at("train.lr"), "0.001");
}

TEST(lab_report, variant_labels_list_only_differing_keys) {
  json a = config("recall", model("A"), kMqar, 0), b = config("recall", model("M"), kMqar, 1);
  b["model"]["d_model"] = 128;
  EXPECT_EQ(rp::variant_labels({a, b}), (std::vector<std::string>{"d_model=64 pattern=A", "d_model=128 pattern=M"}));
  // Seeds alone never make a variant.
  EXPECT_EQ(rp::variant_labels({a, config("recall", model("A"), kMqar, 7)}),
            (std::vector<std::string>{"all runs", "all runs"}));
  // Two differing keys with the same last component keep their full path; a missing key is "-".
  json c = a, d = a;
  c["model"]["n"] = 1, c["task"]["n"] = 2;
  d["model"]["n"] = 3, d["task"]["n"] = 4;
  d["model"]["extra"] = true;
  EXPECT_EQ(rp::variant_labels({c, d}), (std::vector<std::string>{"extra=- model.n=1 task.n=2", "extra=true model.n=3 task.n=4"}));
}

TEST(lab_report, sections_answers_and_agreement_from_the_store) {
  st::results_store db(make_store());
  const auto sections = rp::lab_report_sections(db);
  ASSERT_EQ(sections.size(), 2u);
  EXPECT_EQ(sections[0].id, "recall");  // questions.json order
  EXPECT_EQ(sections[1].id, "scan");

  const auto& rec = by_id(sections, "recall");
  EXPECT_EQ(rec.title, "Associative recall: attention vs recurrent mixers");
  EXPECT_NE(rec.question.find("Do SSMs really learn long-range dependencies?"), std::string::npos) << rec.question;
  EXPECT_EQ(rec.question.find("The notes say"), std::string::npos);  // both recall claims are correct
  EXPECT_NE(rec.quote.find("SSM은 진짜 long-range dependency를 학습하나?"), std::string::npos);
  EXPECT_EQ(rec.quote_source,
            "shared/seed/open-problems.ko.md, lines 119, 121, 124 (2 아키텍처 근본 질문 / Transformer의 대안?)");
  // A: 0.90, 1.00, 0.95 -> 0.95 ± t2·0.05/√3 = 0.124; M: 0.40, 0.50 -> 0.45 ± t1·0.05 = 0.635.
  EXPECT_EQ(rec.answer,
            "Best: pattern=A at 0.95 ± 0.12 test accuracy; worst: pattern=M at 0.45 ± 0.64 (2-3 seeds per variant). "
            "Fewer than 3 seeds: pattern=M (n = 2: fewer than 3 seeds). 1 of 6 runs failed (listed in the table).");
  EXPECT_NE(rec.comparison.find("Arora et al. 2023, Zoology"), std::string::npos);
  const std::string agree =
      "Verdict: agrees — max(attention).accuracy@hardest (kv=16) = pattern=A at 0.90 ± 0.25 > "
      "max(recurrent).accuracy@hardest (kv=16) = pattern=M at 0.25 ± 0.64.";
  EXPECT_EQ(rec.comparison.substr(rec.comparison.size() - agree.size()), agree) << rec.comparison;
  ASSERT_EQ(rec.figures.size(), 4u);
  EXPECT_EQ(rec.figures[0].id, "recall-loss");
  EXPECT_EQ(rec.figures[1].id, "recall-slices");
  EXPECT_EQ(rec.figures[2].id, "recall-heatmap");
  EXPECT_EQ(rec.figures[3].id, "recall-final");
  // Every figure draws its CI: a band under the loss lines, a rule on each bar (clipped to [0, 1]).
  EXPECT_EQ(rec.figures[0].spec["layer"][0]["mark"]["type"], "area");
  EXPECT_EQ(rec.figures[0].spec["layer"][0]["encoding"]["y2"]["field"], "hi");
  EXPECT_EQ(rec.figures[0].spec["layer"][1]["mark"]["type"], "line");
  EXPECT_EQ(rec.figures[3].spec["layer"][1]["mark"]["type"], "rule");
  EXPECT_EQ(rec.figures[3].spec["layer"][1]["encoding"]["y"]["field"], "lo_clipped");
  EXPECT_EQ(rec.figures[3].spec["layer"][1]["encoding"]["y"]["scale"]["domain"], json({0, 1}));
  // Slices ordered by difficulty, not by name ("kv=16" < "kv=4" as text).
  EXPECT_EQ(rec.figures[2].spec["encoding"]["x"]["sort"], json({"kv=4", "kv=16"}));
  // Distinct numeric difficulties: a quantitative x axis, log-scaled when they span 8x (scan: 2..24).
  EXPECT_EQ(rec.figures[1].spec["layer"][0]["encoding"]["x"]["field"], "difficulty");
  EXPECT_EQ(rec.figures[1].spec["layer"][0]["encoding"]["x"]["title"], "kv (slice difficulty)");
  EXPECT_FALSE(rec.figures[1].spec["layer"][0]["encoding"]["x"]["scale"].contains("type"));  // 4..16: linear

  const auto& scan = by_id(sections, "scan");
  EXPECT_EQ(scan.figures[1].spec["layer"][0]["encoding"]["x"]["scale"]["type"], "log");
  EXPECT_EQ(scan.answer, "Best: split=simple at 0.98 ± 0.13 test accuracy; worst: split=length at 0.15 ± 0.64 (2 seeds each). "
            "Fewer than 3 seeds: split=simple (n = 2: fewer than 3 seeds), split=length (n = 2: fewer than 3 seeds).");
  EXPECT_NE(scan.question.find("[imprecise claim, line 365] The notes say \"SCAN (Lake & Baroni 2018): simple "
                               "RNNs/Transformers fail on simple command combinations.\"; the sources say: Lake & "
                               "Baroni tested RNN seq2seq models"),
            std::string::npos)
      << scan.question;
  const std::string scan_agree =
      "Verdict: agrees — max(simple).accuracy = split=simple at 0.98 ± 0.13 >= 0.90; each(harder).accuracy = "
      "split=length at 0.15 ± 0.64 < 0.50.";
  EXPECT_EQ(scan.comparison.substr(scan.comparison.size() - scan_agree.size()), scan_agree) << scan.comparison;

  // --filter keeps only the named experiments.
  rp::lab_report_options only_scan;
  only_scan.filter = {"scan"};
  const auto filtered = rp::lab_report_sections(db, only_scan);
  ASSERT_EQ(filtered.size(), 1u);
  EXPECT_EQ(filtered[0].id, "scan");
}

TEST(lab_report, figure_and_table_csvs_hold_means_and_cis) {
  st::results_store db(make_store());
  const fs::path out = fresh_dir("report");
  const auto w = rp::write_report(rp::lab_report_document(db), out);
  EXPECT_EQ(w.figures, 8u);
  EXPECT_EQ(w.tables, 2u);

  // Accuracy per slice: one row per (variant, slice), slices by difficulty.
  const auto sl = read_csv(out / "fig-recall-slices.csv");
  ASSERT_EQ(sl.size(), 5u);
  EXPECT_EQ(sl[0], (std::vector<std::string>{"variant", "slice", "difficulty", "mean", "lo_clipped", "hi_clipped", "n"}));
  EXPECT_EQ(sl[1][0] + " " + sl[1][1], "pattern=A kv=4");
  EXPECT_EQ(sl[3][0] + " " + sl[3][1] + " " + sl[3][2], "pattern=A kv=16 16");
  // A at kv=16: 0.9, 1.0, 0.8 -> mean 0.9, sd 0.1, half = t2 · 0.1/√3 (hi clipped to 1).
  const double half_a = t2 * 0.1 / std::sqrt(3.0);
  EXPECT_NEAR(std::stod(sl[3][3]), 0.9, 1e-12);
  EXPECT_NEAR(std::stod(sl[3][4]), 0.9 - half_a, 1e-9);
  EXPECT_EQ(sl[3][5], "1");
  EXPECT_EQ(sl[3][6], "3");
  // M at kv=16: 0.2, 0.3 (the failed seed has no evaluations) -> 0.25 ± t1 · 0.05, lo clipped to 0.
  EXPECT_EQ(sl[4][0] + " " + sl[4][1], "pattern=M kv=16");
  EXPECT_NEAR(std::stod(sl[4][3]), 0.25, 1e-12);
  EXPECT_EQ(sl[4][4], "0");
  EXPECT_NEAR(std::stod(sl[4][5]), 0.25 + t1 * 0.05, 1e-9);
  EXPECT_EQ(sl[4][6], "2");
  // The heatmap's CSV keeps the unclipped interval.
  const auto hm = read_csv(out / "fig-recall-heatmap.csv");
  ASSERT_EQ(hm.size(), 5u);
  EXPECT_EQ(hm[0], (std::vector<std::string>{"variant", "slice", "difficulty", "mean", "lo", "hi", "n"}));
  EXPECT_NEAR(std::stod(hm[4][4]), 0.25 - t1 * 0.05, 1e-9);
  EXPECT_NEAR(std::stod(hm[3][5]), 0.9 + half_a, 1e-9);

  // Loss curves: the failed run's 9.9 at step 0 is not averaged in.
  const auto loss = read_csv(out / "fig-recall-loss.csv");
  ASSERT_EQ(loss.size(), 7u);
  EXPECT_EQ(loss[0], (std::vector<std::string>{"variant", "step", "mean", "lo", "hi", "n"}));
  EXPECT_EQ(loss[1][0] + " " + loss[1][1], "pattern=A 0");
  EXPECT_NEAR(std::stod(loss[1][2]), 3.1, 1e-12);
  EXPECT_EQ(loss[4][0] + " " + loss[4][1], "pattern=M 0");
  EXPECT_NEAR(std::stod(loss[4][2]), 3.0, 1e-12);
  EXPECT_EQ(loss[4][5], "2");

  // Final accuracy per variant.
  const auto fin = read_csv(out / "fig-recall-final.csv");
  ASSERT_EQ(fin.size(), 3u);
  EXPECT_EQ(fin[1][0], "pattern=A");
  EXPECT_NEAR(std::stod(fin[1][1]), 0.95, 1e-12);
  EXPECT_NEAR(std::stod(fin[1][3]) - std::stod(fin[1][1]), t2 * 0.05 / std::sqrt(3.0), 1e-9);

  // The runs table lists the failed run with its reason.
  const std::string runs = lmlab::read_text_file(out / "table-recall-runs.csv");
  EXPECT_NE(runs.find("pattern=M,\"0,1\",2,1,12345,40,2.5e+09,0.45 ± 0.64,0.45,"), std::string::npos) << runs;
  EXPECT_NE(runs.find("seed 2: NaN loss at step 40"), std::string::npos) << runs;
  const std::string html = lmlab::read_text_file(out / "index.html");
  EXPECT_NE(html.find("seed 2: NaN loss at step 40"), std::string::npos);
  EXPECT_NE(html.find("Verdict: agrees — "), std::string::npos);
}

TEST(lab_report, recall_agreement_in_both_directions) {
  const rp::lab_notes none;
  // Recurrent beats attention at the hardest slice: the report says we differ.
  std::vector<rp::lab_run> runs = {mem_run("A", 0, 0.5), mem_run("A", 1, 0.5), mem_run("M", 0, 0.9), mem_run("M", 1, 0.9)};
  auto s = rp::lab_experiment_section("recall", runs, none, meta_of("recall"));
  const std::string differ =
      "Verdict: differs — max(attention).accuracy@hardest (kv=64) = pattern=A at 0.50 ± 0.00 > "
      "max(recurrent).accuracy@hardest (kv=64) = pattern=M at 0.90 ± 0.00 does not hold.";
  EXPECT_EQ(s.comparison.substr(s.comparison.size() - differ.size()), differ) << s.comparison;
  // The other way round: agrees. Hybrids ("MA") are neither side.
  runs = {mem_run("A", 0, 0.8), mem_run("M", 0, 0.3), mem_run("MA", 0, 0.95)};
  s = rp::lab_experiment_section("recall", runs, none, meta_of("recall"));
  const std::string agree =
      "Verdict: agrees — max(attention).accuracy@hardest (kv=64) = pattern=A at 0.80 > "
      "max(recurrent).accuracy@hardest (kv=64) = pattern=M at 0.30.";
  EXPECT_EQ(s.comparison.substr(s.comparison.size() - agree.size()), agree) << s.comparison;
  EXPECT_EQ(s.answer, "Best: pattern=MA at 0.97 test accuracy; worst: pattern=M at 0.65 (1 seed each). Fewer than 3 seeds: "
                      "pattern=MA (n = 1: no interval), pattern=A (n = 1: no interval), pattern=M (n = 1: no interval).");
  // Only attention: nothing to compare.
  s = rp::lab_experiment_section("recall", {mem_run("A", 0, 0.8)}, none, meta_of("recall"));
  EXPECT_EQ(s.comparison.substr(s.comparison.find("Verdict")),
            "Verdict: undecided: no finished variant of group 'recurrent' (model.pattern ~ [^A]+) has "
            "accuracy@hardest.");
  EXPECT_EQ(s.answer, "All runs reached 0.90 test accuracy (n = 1: no interval).");
  // No published result recorded for an unknown experiment.
  s = rp::lab_experiment_section("toy", {mem_run("A", 0, 0.8)}, none, meta_of("toy"));
  EXPECT_EQ(s.comparison, "Verdict: undecided: no published result is recorded for 'toy'.");
  EXPECT_NE(s.question.find("No entry for 'toy'"), std::string::npos);
}

TEST(lab_report, slices_without_numeric_difficulty_are_ordered_names) {
  std::vector<rp::lab_run> runs = {mem_run("A", 0, 0.5), mem_run("M", 0, 0.4)};
  for (auto& r : runs)
    std::erase_if(r.evaluations, [](const st::evaluation& e) { return e.metric == "difficulty"; });
  const auto s = rp::lab_experiment_section("recall", runs, {}, meta_of("recall"));
  ASSERT_EQ(s.figures.size(), 3u);  // no loss curves stored
  const json& x = s.figures[0].spec["layer"][0]["encoding"]["x"];
  EXPECT_EQ(x["field"], "slice");
  EXPECT_EQ(x["sort"], json({"kv=4", "kv=64"}));  // by name when no difficulty: "kv=4" < "kv=64"
  EXPECT_EQ(s.figures[0].spec["layer"][1]["mark"]["ticks"]["size"], 10);
}

// A lab runner's run (a collapse loop) finishes with its own metrics and no accuracy.
TEST(lab_report, finished_runs_without_accuracy_are_not_called_failed) {
  rp::lab_run r = mem_run("A", 0, 0.5);
  r.evaluations = {{"test", "all", "var_ratio", 0.8, 100}};
  const auto s = rp::lab_experiment_section("recall", {r}, {}, meta_of("recall"));
  EXPECT_EQ(s.answer, "1 of 1 runs finished; they record no test accuracy (this experiment's measurements are the metrics "
                      "its verdict reads).");
}

TEST(lab_report, every_failed_run_is_listed_even_when_none_finished) {
  rp::lab_run r = mem_run("A", 0, 0.5);
  r.info.status = st::run_status::failed;
  r.info.failure_reason = "out of memory";
  const auto s = rp::lab_experiment_section("recall", {r}, {}, meta_of("recall"));
  EXPECT_EQ(s.answer, "No run finished with a test accuracy: 1 of 1 runs failed (listed in the table).");
  EXPECT_TRUE(s.figures.empty());
  ASSERT_EQ(s.tables.size(), 1u);
  EXPECT_NE(s.tables[0].data.to_string(lmlab::table_format::csv).find("seed 0: out of memory"), std::string::npos);
}

TEST(lab_report, empty_store_and_unknown_filter_are_errors_with_hints) {
  const fs::path p = fresh_dir("empty") / "empty.db";
  fs::create_directories(p.parent_path());
  st::results_store empty(p);
  EXPECT_EQ(error_of([&] { rp::lab_report_sections(empty); }),
            "report: " + p.string() + ": the store has no lab runs [hint: run an experiment first: lmlab lab run "
            "experiments/<name>.toml --store " + p.string() + "]");
  st::results_store db(make_store());
  rp::lab_report_options opt;
  opt.filter = {"posenc"};
  EXPECT_EQ(error_of([&] { rp::lab_report_sections(db, opt); }),
            "report: --filter: no lab runs of experiment 'posenc' in " + db.path().string() +
                " [hint: experiments in the store: recall, scan]");
  opt.filter = {};
  opt.notes_dir = "no/such/dir";
  EXPECT_EQ(error_of([&] { rp::lab_report_sections(db, opt); }),
            "report: notes file no/such/dir/questions.json not found [hint: run from the repository root or pass "
            "--notes DIR (the folder with questions.json)]");
}

namespace {
// An in-memory finished run with a model/task patch, overall accuracy, slices and final loss.
rp::lab_run run_with(const std::string& experiment, const json& model_patch, const json& task_patch, int seed,
                     double acc, std::vector<std::pair<std::string, double>> slices = {}, double final_loss = 1.0) {
  rp::lab_run r;
  r.info.name = fmt::format("{}/{}{}", experiment, model_patch.dump() + task_patch.dump(), seed);
  r.info.status = st::run_status::finished;
  json m = model("A"), t = kMqar;
  m.merge_patch(model_patch);
  t.merge_patch(task_patch);
  r.info.config = config(experiment, m, t, seed);
  for (std::size_t i = 0; i < slices.size(); ++i) {
    r.evaluations.push_back({"test", slices[i].first, "accuracy", slices[i].second, 10});
    r.evaluations.push_back({"test", slices[i].first, "difficulty", static_cast<double>(i + 1), 10});
  }
  r.evaluations.push_back({"test", "all", "accuracy", acc, 10});
  r.metrics.push_back({100, "final_train_loss", final_loss});
  return r;
}

std::string verdict_of(const std::string& experiment, const std::vector<rp::lab_run>& runs) {
  const auto s = rp::lab_experiment_section(experiment, runs, {}, meta_of(experiment));
  const auto at = s.comparison.find("Verdict: ");
  if (at == std::string::npos) return "(no verdict) " + s.comparison;
  // The section's verdict is the sentence the comparison ends with.
  EXPECT_TRUE(s.outcome.has_value());
  if (s.outcome) {
    EXPECT_EQ(s.comparison.substr(at), s.outcome->sentence());
  }
  return s.comparison.substr(at);
}
}  // namespace

TEST(lab_report, published_rules_of_the_other_experiments) {
  // posenc: ALiBi vs learned/sinusoidal at the longest slice.
  auto pe = [](const char* p, double long_acc) {
    return run_with("posenc", {{"pos_encoding", p}}, {}, 0, 0.5, {{"len=12", 1.0}, {"len=512", long_acc}});
  };
  // arith: in-distribution vs longer operands.
  auto ar = [](int d, double id, double ood) {
    return run_with("arith", {{"d_model", d}}, {}, 0, 0.5, {{"id/d=3", id}, {"ood_len/d=6", ood}});
  };
  // depth_width: the closest-sized pair of different depth, held-out loss within 5%; a smaller
  // model with a very different loss does not enter the comparison.
  auto dw = [](int layers, int width, double params, double loss) {
    auto r = run_with("depth_width", {{"n_layers", layers}, {"d_model", width}}, {}, 0, 0.5);
    r.evaluations.push_back({"test", "len=32", "nll", loss, 10});
    r.metrics.push_back({0, "n_params", params});
    return r;
  };
  // hybrid_ratio: the best hybrid vs pure attention, within 0.02 (one seed each).
  auto hy = [](const char* p, double acc) {
    return run_with("hybrid_ratio", {{"pattern", p}}, {}, 0, acc, {{"kv=4", 1.0}, {"kv=8", acc}});
  };
  // hybrid_placement: attention second (MA) vs attention first (AM) at the hardest kv.
  auto hp = [](const char* p, double at4, double acc) {
    return run_with("hybrid_placement", {{"pattern", p}}, {}, 0, acc, {{"kv=4", at4}, {"kv=8", acc}});
  };
  // mod: MoD (mod_capacity > 0) vs dense.
  auto md = [](double cap, double nll) {
    auto r = run_with("mod", {{"mod_capacity", cap}}, {}, 0, 0.5);
    r.evaluations.push_back({"test", "len=32", "nll", nll, 10});
    return r;
  };
  // recall_state: Mamba's largest state must recall at the training kv before states are compared.
  auto rs = [](const char* arch, int width, int state, double at4, double hard, int seed = 0) {
    json m = {{"arch", arch}, {"d_model", width}};
    if (state > 0) m["d_state"] = state;
    return run_with("recall_state", m, {}, seed, (at4 + hard) / 2, {{"kv=4", at4}, {"kv=8", hard}});
  };
  struct verdict_case {
    const char* experiment;
    std::vector<rp::lab_run> runs;
    std::string expected;
  };
  const std::vector<verdict_case> cases = {
      {"posenc", {pe("alibi", 0.7), pe("learned", 0.1), pe("sinusoidal", 0.2)},
       "Verdict: agrees — max(alibi).accuracy@hardest (len=512) = pos_encoding=alibi at 0.70 > "
       "max(learned_or_sinusoidal).accuracy@hardest (len=512) = pos_encoding=sinusoidal at 0.20."},
      {"posenc", {pe("alibi", 0.1), pe("learned", 0.3)},
       "Verdict: differs — max(alibi).accuracy@hardest (len=512) = pos_encoding=alibi at 0.10 > "
       "max(learned_or_sinusoidal).accuracy@hardest (len=512) = pos_encoding=learned at 0.30 does not hold."},
      {"arith", {ar(64, 0.9, 0.1), ar(128, 1.0, 0.5)},
       "Verdict: agrees — for all 2 variants (closest: each(all).accuracy@id/* = d_model=128 at 1.00 >= "
       "each(all).accuracy@ood_len/* = d_model=128 at 0.50 + 0.20)."},
      {"arith", {ar(64, 0.9, 0.8), ar(128, 1.0, 0.1)},
       "Verdict: differs — not for every variant: each(all).accuracy@id/* = d_model=64 at 0.90 >= "
       "each(all).accuracy@ood_len/* = d_model=64 at 0.80 + 0.20 does not hold."},
      {"arith", {ar(64, 0.3, 0.1)},
       "Verdict: undecided: the model did not learn the task — measured: min(all).accuracy@id/* = all runs at 0.30 >= "
       "0.90 does not hold (needed before the claim)."},
      {"arith", {ar(64, 0.3, 0.1), ar(128, 1.0, 0.1)},  // one variant learned, one did not: still undecided
       "Verdict: undecided: the model did not learn the task — measured: min(all).accuracy@id/* = d_model=64 at 0.30 "
       ">= 0.90 does not hold (needed before the claim)."},
      {"posenc", {pe("alibi", 0.7), run_with("posenc", {{"pos_encoding", "learned"}}, {}, 0, 0.5, {{"len=12", 0.4}, {"len=512", 0.0}})},
       "Verdict: undecided: the model did not learn the task — measured: min(learned_or_sinusoidal).accuracy@len=12 = "
       "pos_encoding=learned at 0.40 >= 0.90 does not hold (needed before the claim)."},
      {"hybrid_ratio", {run_with("hybrid_ratio", {{"pattern", "A"}}, {}, 0, 0.3, {{"kv=4", 0.5}}), hy("MMMA", 0.7)},
       "Verdict: undecided: the model did not learn the task — measured: max(attention).accuracy@kv=4 = pattern=A at "
       "0.50 >= 0.90 does not hold (needed before the claim)."},
      {"scan", {run_with("scan", {}, {{"split", "simple"}}, 0, 0.87), run_with("scan", {}, {{"split", "length"}}, 0, 0.1)},
       "Verdict: undecided: the model did not learn the task — measured: max(simple).accuracy = split=simple at 0.87 >= "
       "0.95 does not hold (needed before the claim)."},
      {"depth_width", {dw(4, 64, 200000, 2.00), dw(1, 128, 205000, 2.08), dw(1, 64, 60000, 3.0)},
       "Verdict: agrees — first.nll@len=32 = d_model=64 n_layers=4 at 2.00 within 5% of "
       "second.nll@len=32 = d_model=128 n_layers=1 at 2.08 (4.0% apart)."},
      {"depth_width", {dw(4, 64, 200000, 2.00), dw(1, 128, 205000, 2.50)},
       "Verdict: differs — first.nll@len=32 = d_model=64 n_layers=4 at 2.00 within 5% of "
       "second.nll@len=32 = d_model=128 n_layers=1 at 2.50 (25.0% apart) does not hold."},
      {"depth_width", {dw(4, 64, 200000, 2.00), dw(1, 64, 60000, 2.0)},
       "Verdict: undecided: no two variants that differ in model.n_layers have n_params within 15% of each "
       "other."},
      {"hybrid_ratio", {hy("A", 0.80), hy("MMMA", 0.79), hy("M", 0.95)},
       "Verdict: agrees — max(hybrid).accuracy = pattern=MMMA at 0.79 >= max(attention).accuracy = pattern=A "
       "at 0.80 (allowing 0.02)."},
      {"hybrid_ratio", {hy("A", 0.80), hy("MMMA", 0.70)},
       "Verdict: differs — max(hybrid).accuracy = pattern=MMMA at 0.70 >= max(attention).accuracy = pattern=A "
       "at 0.80 (allowing 0.02) does not hold."},
      {"hybrid_placement", {hp("AM", 1.0, 1.00), hp("MA", 0.4, 0.21)},
       "Verdict: differs — max(attention_after).accuracy@hardest (kv=8) = pattern=MA at 0.21 >= "
       "max(attention_first).accuracy@hardest (kv=8) = pattern=AM at 1.00 (allowing 0.02) does not hold."},
      {"hybrid_placement", {hp("AM", 0.95, 0.90), hp("MA", 0.95, 0.89)},
       "Verdict: agrees — max(attention_after).accuracy@hardest (kv=8) = pattern=MA at 0.89 >= "
       "max(attention_first).accuracy@hardest (kv=8) = pattern=AM at 0.90 (allowing 0.02)."},
      {"hybrid_placement", {hp("AM", 0.5, 0.3), hp("MA", 0.8, 0.3)},
       "Verdict: undecided: the model did not learn the task — measured: max(all).accuracy@kv=4 = pattern=MA at "
       "0.80 >= 0.90 does not hold (needed before the claim)."},
      {"mod", {md(0, 2.00), md(0.125, 2.01)},
       "Verdict: agrees — min(mod).nll@len=32 = mod_capacity=0.125 at 2.01 <= min(dense).nll@len=32 = "
       "mod_capacity=0.0 at 2.00 (allowing 0.02)."},
      {"mod", {md(0, 2.00), md(0.125, 2.10)},
       "Verdict: differs — min(mod).nll@len=32 = mod_capacity=0.125 at 2.10 <= min(dense).nll@len=32 = "
       "mod_capacity=0.0 at 2.00 (allowing 0.02) does not hold."},
      {"mod", {md(0, 2.00)},
       "Verdict: undecided: no finished variant of group 'mod' (model.mod_capacity > 0) has nll@len=32."},
      {"recall_state", {rs("gpt", 32, 0, 1.0, 1.0), rs("mamba", 32, 2, 0.25, 0.12), rs("mamba", 64, 32, 0.30, 0.15)},
       "Verdict: undecided: the recurrent model did not learn recall at the training kv (its largest state below 0.90 "
       "at kv = 4) — measured: max(large_state).accuracy@kv=4 = arch=mamba d_model=64 d_state=32 at 0.30 >= 0.90 does "
       "not hold (needed before the claim)."},
      {"recall_state",  // two seeds each, so that the rules' CIs exist
       {rs("gpt", 32, 0, 1.0, 1.0), rs("gpt", 32, 0, 1.0, 0.98, 1), rs("mamba", 32, 2, 0.40, 0.12),
        rs("mamba", 32, 2, 0.42, 0.14, 1), rs("mamba", 64, 32, 0.95, 0.60), rs("mamba", 64, 32, 0.97, 0.62, 1)},
       "Verdict: agrees — min(large_state).accuracy = arch=mamba d_model=64 d_state=32 at 0.78 ± 0.13 > "
       "max(small_state).accuracy = arch=mamba d_model=32 d_state=2 at 0.27 ± 0.13; max(attention).accuracy@hardest "
       "(kv=8) = arch=gpt d_model=32 d_state=- at 0.99 ± 0.13 > max(mamba).accuracy@hardest (kv=8) = arch=mamba "
       "d_model=64 d_state=32 at 0.61 ± 0.13."},
      {"scan", {run_with("scan", {}, {{"split", "length"}}, 0, 0.1)},  // no simple-split run
       "Verdict: undecided: the model did not learn the task — no finished variant of group 'simple' (task.split = "
       "simple) has accuracy (needed before the claim)."},
  };
  for (const auto& c : cases) EXPECT_EQ(verdict_of(c.experiment, c.runs), c.expected) << c.experiment;
}

TEST(lab_report, rope_rescaled_evaluations_are_their_own_series) {
  rp::lab_run r = run_with("posenc", {{"pos_encoding", "rope"}}, {}, 0, 0.5, {{"len=64", 1.0}, {"len=512", 0.1}});
  r.evaluations.push_back({"test@yarn:4", "len=512", "accuracy", 0.6, 10});
  r.evaluations.push_back({"test@yarn:4", "all", "accuracy", 0.8, 20});
  const auto s = rp::lab_experiment_section("posenc", {r}, {}, meta_of("posenc"));
  const auto csv = s.figures[0].data.to_string(lmlab::table_format::csv);
  EXPECT_NE(csv.find("all runs,len=512,2,0.1,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("all runs @yarn:4,len=512,2,0.6,"), std::string::npos) << csv;
  // The headline numbers stay those of the plain test split.
  EXPECT_EQ(s.answer, "All runs reached 0.50 test accuracy (n = 1: no interval).");
}

namespace {
// A spec's metadata from TOML text (the grid part is minimal).
lmlab::lab::report_meta meta_from(const std::string& tables) {
  return lmlab::lab::parse_spec("name = \"t\"\n[model]\nd_model = 64\n[task]\nname = \"mqar\"\n[train]\nsteps = 1\n" + tables,
                                "t.toml")
      .meta;
}

rp::lab_run state_run(const char* arch, int d_state, int seed, double acc, double state_bytes) {
  rp::lab_run r = run_with("t", {{"arch", arch}, {"d_state", d_state}}, {}, seed, acc, {{"kv=4", 1.0}, {"kv=8", acc}});
  r.metrics.push_back({0, "state_bytes", state_bytes});
  return r;
}
}  // namespace

TEST(lab_report, ci_overlap_preconditions_and_plots_from_the_spec) {
  const auto meta = meta_from(R"toml(
[report]
title = "State"
figures = ["final"]
[[report.plot]]
id = "state"
x = "state_bytes"
y = "accuracy@hardest"
series = "model.arch"
[expect]
published = "P"
citation = "C"
groups = { small = "model.d_state = 2", large = "model.d_state = 32" }
require = [{ left = "max(all).accuracy@easiest", op = ">=", right = 0.9, otherwise = "the model did not learn the task" }]
rule = [{ metric = "accuracy@hardest", left = "min(large)", op = ">", right = "max(small)", ci_overlap = "undecided" }]
)toml");
  // Three seeds each, well apart: agrees.
  std::vector<rp::lab_run> runs;
  for (int s = 0; s < 3; ++s) {
    runs.push_back(state_run("mamba", 2, s, 0.20 + 0.01 * s, 1000));
    runs.push_back(state_run("mamba", 32, s, 0.60 + 0.01 * s, 16000));
  }
  auto sec = rp::lab_experiment_section("t", runs, {}, &meta);
  EXPECT_EQ(sec.title, "State");
  EXPECT_EQ(sec.comparison,
            "Published: P (C). Rule: min(large) > max(small). Verdict: agrees — min(large).accuracy@hardest (kv=8) = "
            "d_state=32 at 0.61 ± 0.02 > max(small).accuracy@hardest (kv=8) = d_state=2 at 0.21 ± 0.02.");
  // Figures: the bar chart the spec asked for, then its plot, points ordered by state size.
  ASSERT_EQ(sec.figures.size(), 2u);
  EXPECT_EQ(sec.figures[0].id, "t-final");
  EXPECT_EQ(sec.figures[1].id, "t-state");
  const std::string csv = sec.figures[1].data.to_string(lmlab::table_format::csv);
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "series,variant,state_bytes,mean,lo,hi,n");
  EXPECT_NE(csv.find("mamba,d_state=2,1000,0.21"), std::string::npos) << csv;
  EXPECT_LT(csv.find("d_state=2,1000"), csv.find("d_state=32,16000")) << csv;
  // Overlapping CIs: not decided, with the numbers.
  runs.clear();
  for (int s = 0; s < 3; ++s) {
    runs.push_back(state_run("mamba", 2, s, 0.20 + 0.2 * s, 1000));
    runs.push_back(state_run("mamba", 32, s, 0.30 + 0.2 * s, 16000));
  }
  sec = rp::lab_experiment_section("t", runs, {}, &meta);
  EXPECT_NE(sec.comparison.find("Verdict: undecided (CI overlaps) — min(large).accuracy@hardest (kv=8) = d_state=32 at 0.50 ± "),
            std::string::npos)
      << sec.comparison;
  EXPECT_NE(sec.comparison.find(": the 95% CIs overlap."), std::string::npos) << sec.comparison;
  EXPECT_EQ(sec.outcome->word, "undecided (CI overlaps)");
  // One seed: no CI to decide with.
  sec = rp::lab_experiment_section("t", {state_run("mamba", 2, 0, 0.2, 1), state_run("mamba", 32, 0, 0.9, 2)}, {}, &meta);
  EXPECT_NE(sec.comparison.find("Verdict: undecided: n = 1: no interval ("), std::string::npos) << sec.comparison;
  EXPECT_NE(sec.comparison.find("a CI needs two or more seeds per variant)."), std::string::npos) << sec.comparison;
  // The precondition: the easiest slice below 0.9 everywhere -> not decided, whatever the rule says.
  runs = {state_run("mamba", 2, 0, 0.2, 1), state_run("mamba", 32, 0, 0.9, 2)};
  for (auto& r : runs)
    for (auto& e : r.evaluations)
      if (e.slice == "kv=4" && e.metric == "accuracy") e.value = 0.5;
  sec = rp::lab_experiment_section("t", runs, {}, &meta);
  EXPECT_EQ(sec.comparison.substr(sec.comparison.find("Verdict")),
            "Verdict: undecided: the model did not learn the task — measured: max(all).accuracy@easiest (kv=4) = "
            "d_state=2 at 0.50 >= 0.90 does not hold (needed before the claim).");
  EXPECT_EQ(sec.outcome->word, "undecided: the model did not learn the task");
}

// "metrics" in [report] figures: one row per (variant, slice), one column per test metric as
// mean ± the 95% CI half-width over seeds, slices by name ("all" last); the vlm_pope spec
// asks for it, and its paired rule (adversarial below popular) reads an overlap as not decided.
TEST(lab_report, metrics_table_and_pope_paired_rule) {
  std::vector<rp::lab_run> runs;
  const double f1_adv[3] = {0.70, 0.74, 0.72}, f1_pop[3] = {0.71, 0.73, 0.74};
  for (int s = 0; s < 3; ++s) {
    rp::lab_run r;
    r.info.name = fmt::format("vlm_pope/{}", s);
    r.info.kind = "lab";
    r.info.status = st::run_status::finished;
    r.info.config = {{"task", {{"name", "vlm_pope"}}}, {"seed", s}};
    r.evaluations = {{"test", "exist", "accuracy", 0.8, 100},
                     {"test", "random", "accuracy", 0.80 + 0.01 * s, 100},
                     {"test", "random", "f1", 0.78 + 0.01 * s, 100},
                     {"test", "popular", "f1", f1_pop[s], 100},
                     {"test", "popular", "f1_drop", 0.78 + 0.01 * s - f1_pop[s], 100},
                     {"test", "adversarial", "f1", f1_adv[s], 100},
                     {"test", "adversarial", "f1_drop", 0.78 + 0.01 * s - f1_adv[s], 100},
                     {"test", "adversarial", "f1_drop_from_popular", f1_pop[s] - f1_adv[s], 100},
                     {"test", "all", "accuracy", 0.7, 300}};
    runs.push_back(r);
  }
  const auto sec = rp::lab_experiment_section("vlm_pope", runs, {}, meta_of("vlm_pope"));
  ASSERT_EQ(sec.tables.size(), 2u);
  EXPECT_EQ(sec.tables[1].id, "vlm_pope-metrics");
  const auto& t = sec.tables[1].data;
  EXPECT_EQ(t.columns(), (std::vector<std::string>{"variant", "slice", "seeds", "accuracy", "f1", "f1_drop", "f1_drop_from_popular"}));
  ASSERT_EQ(t.rows().size(), 5u);  // adversarial, exist, popular, random, all
  EXPECT_EQ(t.rows()[4][1].text, "all");
  EXPECT_EQ(t.rows()[3][1].text, "random");
  EXPECT_EQ(t.rows()[3][2].text, "3");
  // random F1 0.78, 0.79, 0.80: mean 0.79, half-width t(0.975, 2) * 0.01 / sqrt(3) = 0.0248.
  EXPECT_EQ(t.rows()[3][4].text, "0.790 ± 0.025");
  EXPECT_EQ(t.rows()[3][5].text, "");  // no f1_drop at random
  EXPECT_EQ(t.rows()[0][6].text, "0.007 ± 0.038");  // adversarial: 0.01, -0.01, 0.02
  // Adversarial F1 is below popular in seeds 0 and 2 but above it in seed 1: the CI holds 0.
  EXPECT_EQ(sec.outcome->word, "undecided (CI overlaps)") << sec.comparison;
  EXPECT_NE(sec.comparison.find("f1_drop_from_popular@adversarial"), std::string::npos) << sec.comparison;
  // Without "metrics" in the figures, no such table.
  const auto plain = rp::lab_experiment_section("vlm_pope", runs, {}, nullptr);
  EXPECT_EQ(plain.tables.size(), 1u);
}

TEST(lab_report, seeds_that_did_not_learn_are_excluded_by_rule_and_named) {
  const auto meta = meta_from(R"toml(
[report]
title = "State"
figures = ["final"]
[expect]
published = "P"
citation = "C"
exclude = { metric = "accuracy@easiest", below = 0.9, reason = "did not learn", min_seeds = 3 }
groups = { small = "model.d_state = 2", large = "model.d_state = 32" }
require = [{ left = "min(all).accuracy@easiest", op = ">=", right = 0.9, otherwise = "the model did not learn the task" }]
rule = [{ metric = "accuracy@hardest", left = "min(large)", op = ">", right = "max(small)", ci_overlap = "undecided" }]
)toml");
  // Four seeds each; seed 3 of d_state=32 did not learn (easiest slice 0.5, hardest 0.1): it
  // is left out of the precondition and the rule, and named.
  std::vector<rp::lab_run> runs;
  for (int s = 0; s < 4; ++s) {
    runs.push_back(state_run("mamba", 2, s, 0.20 + 0.01 * s, 1000));
    runs.push_back(state_run("mamba", 32, s, s == 3 ? 0.1 : 0.60 + 0.01 * s, 16000));
  }
  for (auto& e : runs.back().evaluations)
    if (e.slice == "kv=4" && e.metric == "accuracy") e.value = 0.5;
  auto sec = rp::lab_experiment_section("t", runs, {}, &meta);
  EXPECT_EQ(sec.outcome->word, "agrees") << sec.comparison;
  EXPECT_NE(sec.comparison.find("agrees — excluded by rule (accuracy@easiest < 0.90: did not learn): seed 3 of d_state=32 "
                                "(0.50); min(large).accuracy@hardest (kv=8) = d_state=32 at 0.61 ± 0.02"),
            std::string::npos)
      << sec.comparison;
  // Without the exclusion the precondition fails on seed 3.
  auto plain = meta;
  plain.expect->exclude.reset();
  EXPECT_EQ(rp::lab_experiment_section("t", runs, {}, &plain).outcome->word, "undecided: the model did not learn the task");
  // Two of four left: fewer than min_seeds, not decided, and still named.
  for (auto& r : runs)
    if (r.info.config["seed"] == 2 && r.info.config["model"]["d_state"] == 32)
      for (auto& e : r.evaluations)
        if (e.slice == "kv=4") e.value = 0.4;
  sec = rp::lab_experiment_section("t", runs, {}, &meta);
  EXPECT_EQ(sec.outcome->word, "undecided: fewer than 3 seeds left after the exclusion") << sec.comparison;
  EXPECT_NE(sec.comparison.find("seed 2 of d_state=32 (0.40); seed 3 of d_state=32 (0.50); d_state=32 has 2"), std::string::npos)
      << sec.comparison;
}

// x and y both "@each" over slices that carry no accuracy (test-time compute logs pass and
// flops_per_item per "k=K"): one point per variant and slice, means over seeds by hand.
TEST(lab_report, each_plot_over_slices_without_accuracy) {
  const auto meta = meta_from(R"toml(
[report]
figures = []
[[report.plot]]
id = "pf"
x = "flops_per_item@each"
y = "pass@each"
)toml");
  std::vector<rp::lab_run> runs;
  for (int s = 0; s < 2; ++s) {
    rp::lab_run r = run_with("t", {{"d_model", 32}}, {}, s, 0.5, {});
    for (int k : {1, 4}) {
      r.evaluations.push_back({"test", fmt::format("k={}", k), "pass", 0.1 * k + 0.1 * s, 10});
      r.evaluations.push_back({"test", fmt::format("k={}", k), "flops_per_item", 100.0 * k, 10});
    }
    runs.push_back(std::move(r));
  }
  const auto sec = rp::lab_experiment_section("t", runs, {}, &meta);
  ASSERT_EQ(sec.figures.size(), 1u);
  const std::string csv = sec.figures[0].data.to_string(lmlab::table_format::csv);
  // k = 1: pass 0.1 and 0.2 -> 0.15 at 100 FLOPs; k = 4: 0.4 and 0.5 -> 0.45 at 400.
  EXPECT_NE(csv.find("k=1,100,0.15"), std::string::npos) << csv;
  EXPECT_NE(csv.find("k=4,400,0.45"), std::string::npos) << csv;
  EXPECT_LT(csv.find("k=1,100"), csv.find("k=4,400")) << csv;
}

TEST(lab_report, slice_heatmap_pools_variants_that_each_fill_their_own_cells) {
  const auto meta = meta_from(R"toml(
[report]
figures = []
[[report.plot]]
id = "phase"
x = "slice"
y = "superposed@importance=*"
)toml");
  // A sweep of 2 importances x 2 densities, 2 seeds each; every run logs only its own cell, as
  // tms_phase's runs do. One grid, rows the importances (numbers, not variant labels).
  std::vector<rp::lab_run> runs;
  for (double imp : {0.3, 3.0})
    for (double den : {1.0, 0.1})
      for (int s = 0; s < 2; ++s) {
        rp::lab_run r = run_with("t", {}, {{"importance", imp}, {"density", den}}, s, 0.5);
        const double v = den < 1 && (imp < 1 || s == 0) ? 1.0 : 0.0;  // (3, 0.1): one seed of two
        r.evaluations.push_back({"test", fmt::format("importance={:g}/density={:g}", imp, den), "superposed", v, 1});
        runs.push_back(std::move(r));
      }
  const auto sec = rp::lab_experiment_section("t", runs, {}, &meta);
  ASSERT_EQ(sec.figures.size(), 1u);
  EXPECT_EQ(sec.figures[0].kind, rp::figure_kind::heatmap);
  const std::string csv = sec.figures[0].data.to_string(lmlab::table_format::csv);
  EXPECT_EQ(sec.figures[0].data.rows().size(), 4u) << csv;
  EXPECT_NE(csv.find("0.3,0.1,1,1,1,2"), std::string::npos) << csv;
  EXPECT_NE(csv.find("3,0.1,0.5,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("0.3,1,0,0,0,2"), std::string::npos) << csv;

  // Two variants that log the same cells keep a row per variant and cell row.
  std::vector<rp::lab_run> both;
  for (int d : {32, 64}) {
    rp::lab_run r = run_with("t", {{"d_model", d}}, {}, 0, 0.5);
    for (const char* sl : {"importance=1/density=1", "importance=1/density=0.1"})
      r.evaluations.push_back({"test", sl, "superposed", d == 32 ? 0.0 : 1.0, 1});
    both.push_back(std::move(r));
  }
  const auto sec2 = rp::lab_experiment_section("t", both, {}, &meta);
  ASSERT_EQ(sec2.figures.size(), 1u);
  const std::string csv2 = sec2.figures[0].data.to_string(lmlab::table_format::csv);
  EXPECT_EQ(sec2.figures[0].data.rows().size(), 4u) << csv2;
  EXPECT_NE(csv2.find("d_model=32 importance=1,0.1,0,"), std::string::npos) << csv2;
  EXPECT_NE(csv2.find("d_model=64 importance=1,1,1,"), std::string::npos) << csv2;
}
