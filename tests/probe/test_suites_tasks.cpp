// The suites built from src/tasks (perturbation, compositional) and the probe report
// sections: item counts and determinism, answer extraction on canned replies (right, wrong,
// unparseable, base-7 digits), clustered standard errors on a hand-made case, a run end to
// end against the scripted fault server, and the report sections built from results (no
// Chromium: validate + render_index_html; write_report only when the pinned assets exist).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "core/fs.hpp"
#include "fault_server.hpp"
#include "probe/report_section.hpp"
#include "probe/runner.hpp"
#include "probe/suites.hpp"
#include "probe/suites_tasks.hpp"
#include "report/sources.hpp"
#include "tasks/scan.hpp"
#include "../temp_path.hpp"
#include "../find_section.hpp"

namespace fs = std::filesystem;
using namespace lmlab::probe;
using json = nlohmann::json;

namespace {

const item& by_id(const std::vector<item>& items, const std::string& id) {
  for (const auto& it : items)
    if (it.id == id) return it;
  throw std::runtime_error("no item " + id);
}

json score(const suite& s, const item& it, const std::string& reply) {
  json smp = json::object();
  s.score_text(it, reply, smp);
  return smp;
}

// A sample as the runner stores it, for aggregate().
json sample(json doc, bool correct, json extra = json::object()) {
  json s = {{"doc", std::move(doc)}, {"correct", correct}, {"parsed", true}};
  for (auto it = extra.begin(); it != extra.end(); ++it) s[it.key()] = it.value();
  return s;
}

json wp_doc(const std::string& tmpl, const std::string& variant, int set) {
  return {{"family", "word_problem"}, {"lang", "en"}, {"template", tmpl}, {"cluster", tmpl}, {"variant", variant}, {"set", set}};
}

json ar_doc(int k, int base) {
  return {{"family", "arithmetic"}, {"lang", "en"}, {"cluster", "arith/" + std::to_string(k)}, {"base", base},
          {"variant", "base=" + std::to_string(base)}};
}

}  // namespace

// ---- perturbation: items --------------------------------------------------------------

TEST(perturbation, item_counts_ids_and_determinism) {
  suite_options o;
  o.n = 8;
  const auto items = perturbation_suite().build(o);
  // en: 13 templates x (1 original + 5 variants x ceil(8/13) = 1); ko: 4 templates x (1 + 5 x 2);
  // arithmetic: 8 problems x 4 bases.
  EXPECT_EQ(items.size(), 13u * 6 + 4u * 11 + 8u * 4);
  std::set<std::string> ids;
  for (const auto& it : items) ids.insert(it.id);
  EXPECT_EQ(ids.size(), items.size());
  const auto again = perturbation_suite().build(o);
  ASSERT_EQ(again.size(), items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    EXPECT_EQ(again[i].id, items[i].id);
    EXPECT_EQ(again[i].messages[0].content, items[i].messages[0].content);
    EXPECT_EQ(again[i].target, items[i].target);
  }
  o.langs = {"en"};
  o.n = 4;
  EXPECT_EQ(perturbation_suite().build(o).size(), 13u * 6 + 4u * 4);
  // Another seed draws other numbers, never another original.
  suite_options o2 = o;
  o2.seed = 99;
  const auto other = perturbation_suite().build(o2);
  EXPECT_EQ(by_id(other, "wp/en/fruit_buy/original").messages[0].content,
            by_id(perturbation_suite().build(o), "wp/en/fruit_buy/original").messages[0].content);
  EXPECT_NE(by_id(other, "wp/en/fruit_buy/numbers/0").messages[0].content,
            by_id(perturbation_suite().build(o), "wp/en/fruit_buy/numbers/0").messages[0].content);
}

TEST(perturbation, original_problem_and_the_notes_base7_item) {
  suite_options o;
  o.n = 3;
  o.langs = {"en"};
  const auto items = perturbation_suite().build(o);
  const auto& orig = by_id(items, "wp/en/fruit_buy/original");
  EXPECT_EQ(orig.messages[0].content,
            "Sophie has 5 apples. Sophie buys 3 more apples at the market. How many apples does Sophie have now?\n\n"
            "Solve the problem. Give the final answer as a single number on the last line, as \"Answer: N\".");
  EXPECT_EQ(orig.target, "8");
  EXPECT_EQ(orig.doc["cluster"], "fruit_buy");
  const auto& b7 = by_id(items, "arith/0/b7");
  EXPECT_EQ(b7.messages[0].content, "In base 7, compute 243 + 156. Answer with the base-7 result only, no explanation.");
  EXPECT_EQ(b7.target, "432");
  EXPECT_EQ(by_id(items, "arith/0/b10").target, "399");
  EXPECT_EQ(by_id(items, "arith/0/b9").target, "410");
  EXPECT_EQ(by_id(items, "arith/0/b8").target, "421");
  EXPECT_EQ(b7.doc["decimal_answer"], "399");
  // Every problem uses digits valid in base 7, and no base's answer equals the base-10 one.
  for (const auto& it : items) {
    if (it.doc["family"] != "arithmetic") continue;
    for (char c : it.doc["a"].get<std::string>() + it.doc["b"].get<std::string>()) EXPECT_LT(c, '7') << it.id;
    if (it.doc["base"] != 10) {
      EXPECT_NE(it.target, it.doc["decimal_answer"].get<std::string>()) << it.id;
    }
  }
  // The NoOp variant keeps the answer of its own numbers; the steps variant is longer.
  const auto& noop = by_id(items, "wp/en/fruit_buy/noop/0");
  const auto& v = noop.doc;
  EXPECT_EQ(v["variant"], "noop");
  EXPECT_EQ(noop.max_tokens, 256);
}

// ---- answer extraction ----------------------------------------------------------------

TEST(extraction, last_number) {
  EXPECT_EQ(last_number("The answer is 8."), 8.0);
  EXPECT_EQ(last_number("5 + 3 = 8\nAnswer: 8"), 8.0);
  EXPECT_EQ(last_number("Answer: 1,200 apples"), 1200.0);
  EXPECT_EQ(last_number("about 12.5 km"), 12.5);
  // Hostile replies: a number beyond double's range is infinite, one below it 0, never a throw.
  EXPECT_EQ(last_number("Answer: " + std::string(400, '9')), HUGE_VAL);
  EXPECT_EQ(last_number("Answer: 0." + std::string(400, '0') + "1"), 0.0);
  EXPECT_EQ(last_number("It is -3 degrees"), -3.0);
  EXPECT_EQ(last_number("답: 8개"), 8.0);
  EXPECT_EQ(last_number("399 in base 10"), 399.0);
  EXPECT_EQ(last_number("399_{10}"), 399.0);
  EXPECT_EQ(last_number("1,2 and 7"), 7.0);
  EXPECT_FALSE(last_number("no number here").has_value());
  EXPECT_FALSE(last_number("the 3rd, twice 2x").has_value());
}

TEST(extraction, last_base_number) {
  EXPECT_EQ(last_base_number("The answer is 432₇.", 7), "432");
  EXPECT_EQ(last_base_number("432_7", 7), "432");
  EXPECT_EQ(last_base_number("432 (base 7)", 7), "432");
  EXPECT_EQ(last_base_number("In base 7: 243 + 156 = 432", 7), "432");
  EXPECT_EQ(last_base_number("0432", 7), "432");
  EXPECT_EQ(last_base_number("result 1010 in base-2", 2), "1010");
  EXPECT_EQ(last_base_number("= 1a3", 16), "1A3");
  EXPECT_EQ(last_base_number("FF is a number", 16), "FF");
  EXPECT_EQ(last_base_number("1,332 in base 10", 10), "1332");
  // 399 has the digit 9, so it is not a base-7 number and nothing else is.
  EXPECT_FALSE(last_base_number("I think it is 399", 7).has_value());
  EXPECT_FALSE(last_base_number("a bead", 16).has_value());
  EXPECT_FALSE(last_base_number("12.5", 10).has_value());
  try {
    last_base_number("1", 37);
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_STREQ(e.what(), "last_base_number: base 37 outside [2, 36]");
  }
}

TEST(extraction, scan_actions) {
  using v = std::vector<std::string>;
  EXPECT_EQ(scan_actions(" I_JUMP I_JUMP"), (v{"I_JUMP", "I_JUMP"}));
  EXPECT_EQ(scan_actions("Actions: i_turn_left, I_JUMP."), (v{"I_TURN_LEFT", "I_JUMP"}));
  // The model continuing the few-shot pattern: only the first answer counts.
  EXPECT_EQ(scan_actions(" I_WALK\n\nCommand: run\nActions: I_RUN"), (v{"I_WALK"}));
  EXPECT_EQ(scan_actions(" I_WALK I_RUN\nCommand: run"), (v{"I_WALK", "I_RUN"}));
  EXPECT_EQ(scan_actions("Sure! Command: jump twice\nActions: I_JUMP I_JUMP"), (v{"I_JUMP", "I_JUMP"}));
  EXPECT_EQ(scan_actions("jump twice"), v{});
}

TEST(perturbation, scoring_canned_replies) {
  suite_options o;
  o.n = 2;
  o.langs = {"en"};
  const auto items = perturbation_suite().build(o);
  const auto& su = perturbation_suite();
  const auto& b7 = by_id(items, "arith/0/b7");
  auto s = score(su, b7, "243 + 156 in base 7 is 432₇.");
  EXPECT_EQ(s["correct"], true);
  EXPECT_EQ(s["pred"], "432");
  EXPECT_EQ(s["recited"], false);
  s = score(su, b7, "399");  // the base-10 sum of the same digits
  EXPECT_EQ(s["correct"], false);
  EXPECT_EQ(s["parsed"], false);
  EXPECT_EQ(s["recited"], true);
  s = score(su, b7, "431");
  EXPECT_EQ(s["correct"], false);
  EXPECT_EQ(s["parsed"], true);
  EXPECT_EQ(s["recited"], false);
  s = score(su, b7, "I cannot do that.");
  EXPECT_EQ(s["correct"], false);
  EXPECT_TRUE(s["pred"].is_null());
  EXPECT_EQ(score(su, by_id(items, "arith/0/b10"), "The sum is 399.")["correct"], true);
  EXPECT_FALSE(score(su, by_id(items, "arith/0/b10"), "399").contains("recited"));
  const auto& wp = by_id(items, "wp/en/fruit_buy/original");
  EXPECT_EQ(score(su, wp, "5 + 3 = 8.\nAnswer: 8")["correct"], true);
  EXPECT_EQ(score(su, wp, "Answer: 9")["correct"], false);
  s = score(su, wp, "I don't know.");
  EXPECT_EQ(s["correct"], false);
  EXPECT_EQ(s["parsed"], false);
}

// ---- clustered standard errors on a hand-made case ------------------------------------

TEST(perturbation, clustered_standard_errors_hand_computed) {
  // Three templates. Originals: A right, B right, C wrong. "numbers" (two instance sets):
  // A right twice, B and C wrong twice.
  std::vector<json> s = {sample(wp_doc("A", "original", -1), true), sample(wp_doc("B", "original", -1), true),
                         sample(wp_doc("C", "original", -1), false)};
  for (int set = 0; set < 2; ++set) {
    s.push_back(sample(wp_doc("A", "numbers", set), true));
    s.push_back(sample(wp_doc("B", "numbers", set), false));
    s.push_back(sample(wp_doc("C", "numbers", set), false));
  }
  // Base arithmetic: problem 0 right in base 10, wrong (recited) in base 7; problem 1 right in both.
  s.push_back(sample(ar_doc(0, 10), true));
  s.push_back(sample(ar_doc(0, 7), false, {{"recited", true}}));
  s.push_back(sample(ar_doc(1, 10), true));
  s.push_back(sample(ar_doc(1, 7), true, {{"recited", false}}));
  const auto r = perturbation_suite().aggregate(s);
  const auto& m = r.metrics;
  // acc_numbers = 1/3. Cluster residual sums: A 2(1 - 1/3) = 4/3, B = C = -2/3; meat = 8/3;
  // CR1: G/(G-1) · meat / n^2 = 3/2 · (8/3) / 36 = 1/9, SE = 1/3. iid: sd/sqrt(n) = sqrt(4/15)/sqrt(6).
  EXPECT_NEAR(m["acc_numbers"].get<double>(), 1.0 / 3, 1e-12);
  EXPECT_NEAR(m["acc_numbers_stderr_clustered"].get<double>(), 1.0 / 3, 1e-12);
  EXPECT_NEAR(m["acc_numbers_stderr_iid"].get<double>(), std::sqrt(4.0 / 15) / std::sqrt(6.0), 1e-12);
  EXPECT_EQ(m["acc_numbers_n"], 6);
  // Original: residuals 1/3, 1/3, -2/3 -> meat 2/3; 3/2 · (2/3) / 9 = 1/9.
  EXPECT_NEAR(m["acc_original"].get<double>(), 2.0 / 3, 1e-12);
  EXPECT_NEAR(m["acc_original_stderr_clustered"].get<double>(), 1.0 / 3, 1e-12);
  // Paired drop d = orig(template) - correct: A 0, 0; B 1, 1; C 0, 0 -> mean 1/3, clustered SE 1/3.
  EXPECT_NEAR(m["drop_numbers"].get<double>(), 1.0 / 3, 1e-12);
  EXPECT_NEAR(m["drop_numbers_stderr_clustered"].get<double>(), 1.0 / 3, 1e-12);
  // Variance of the per-variant accuracies {2/3, 1/3}: (1/6)^2 · 2 / 1 = 1/18.
  EXPECT_NEAR(m["acc_var_across_variants"].get<double>(), 1.0 / 18, 1e-12);
  EXPECT_NEAR(m["acc_sd_across_sets_numbers"].get<double>(), 0.0, 1e-12);
  // Bases: acc 1 and 1/2; drop d = [1, 0] over two problems -> 1/2 with CR1 SE sqrt(2 · 0.5 / 4) = 1/2.
  EXPECT_EQ(m["acc_base10"], 1.0);
  EXPECT_EQ(m["acc_base7"], 0.5);
  EXPECT_NEAR(m["drop_base7"].get<double>(), 0.5, 1e-12);
  EXPECT_NEAR(m["drop_base7_stderr_clustered"].get<double>(), 0.5, 1e-12);
  EXPECT_EQ(m["recite_rate_base7"], 0.5);
  EXPECT_FALSE(m.contains("recite_rate_base10"));
  // The rows the report reads.
  ASSERT_EQ(r.extra["variants"].size(), 4u);
  EXPECT_EQ(r.extra["variants"][1]["variant"], "numbers");
  EXPECT_NEAR(r.extra["variants"][1]["drop_se_clustered"].get<double>(), 1.0 / 3, 1e-12);
  // A single template gives no clustered SE (the key is absent, not NaN).
  const auto one = perturbation_suite().aggregate({sample(wp_doc("A", "original", -1), true),
                                                   sample(wp_doc("A", "numbers", 0), false)});
  EXPECT_FALSE(one.metrics.contains("acc_numbers_stderr_clustered"));
  EXPECT_EQ(one.metrics["drop_numbers"], 1.0);
}

// ---- compositional --------------------------------------------------------------------

TEST(compositional, items_per_split_demonstrations_and_determinism) {
  suite_options o;
  o.n = 5;
  const auto items = compositional_suite().build(o);
  ASSERT_EQ(items.size(), 20u);
  std::map<std::string, int> per_split;
  std::map<std::string, std::vector<std::string>> actions_of;
  for (const auto& c : lmlab::tasks::scan_all_commands()) actions_of[c.command] = c.actions;
  for (const auto& it : items) {
    const std::string split = it.doc["split"];
    ++per_split[split];
    EXPECT_EQ(it.doc["shots"], 8);
    const std::string p = it.messages[0].content;
    EXPECT_TRUE(p.starts_with("Translate the command into a sequence of actions")) << p;
    EXPECT_TRUE(p.ends_with("Command: " + it.doc["command"].get<std::string>() + "\nActions:"));
    // The query is not among the demonstrations, and the target is the grammar's meaning.
    EXPECT_EQ(p.find("Command: " + it.doc["command"].get<std::string>() + "\nActions: "), std::string::npos);
    std::string gold;
    for (const auto& a : actions_of.at(it.doc["command"])) gold += (gold.empty() ? "" : " ") + a;
    EXPECT_EQ(it.target, gold);
    if (split == "addprim_jump") {
      EXPECT_NE(p.find("\n\nCommand: jump\nActions: I_JUMP\n\n"), std::string::npos);
      EXPECT_NE(it.doc["command"].get<std::string>().find("jump"), std::string::npos);
    }
    if (split == "addprim_turn_left") {
      EXPECT_NE(p.find("\n\nCommand: turn left\nActions: I_TURN_LEFT\n\n"), std::string::npos);
    }
    if (split == "length") {
      EXPECT_GE(it.doc["actions"].get<int>(), 24);
    }
  }
  EXPECT_EQ(per_split, (std::map<std::string, int>{{"simple", 5}, {"length", 5}, {"addprim_jump", 5}, {"addprim_turn_left", 5}}));
  const auto again = compositional_suite().build(o);
  for (std::size_t i = 0; i < items.size(); ++i) EXPECT_EQ(again[i].messages[0].content, items[i].messages[0].content);
}

TEST(compositional, scoring_and_aggregate) {
  suite_options o;
  o.n = 2;
  const auto items = compositional_suite().build(o);
  const auto& su = compositional_suite();
  const auto& it = items[0];
  EXPECT_EQ(score(su, it, " " + it.target)["correct"], true);
  EXPECT_EQ(score(su, it, " " + it.target + " I_WALK")["correct"], false);
  auto s = score(su, it, "I am not sure what that means.");
  EXPECT_EQ(s["correct"], false);
  EXPECT_EQ(s["parsed"], false);
  std::vector<json> samples;
  for (std::size_t i = 0; i < items.size(); ++i) {
    json smp = {{"doc", items[i].doc}};
    su.score_text(items[i], i % 2 == 0 ? items[i].target : "nothing", smp);
    samples.push_back(smp);
  }
  const auto r = su.aggregate(samples);
  for (const char* split : {"simple", "length", "addprim_jump", "addprim_turn_left"}) {
    EXPECT_EQ(r.metrics["acc_" + std::string(split)], 0.5) << split;
    EXPECT_EQ(r.metrics["acc_" + std::string(split) + "_n"], 2);
    // Wilson 95% for 1/2.
    EXPECT_NEAR(r.metrics["acc_" + std::string(split) + "_ci95_lo"].get<double>(), 0.0945, 1e-4);
  }
  EXPECT_EQ(r.metrics["unparsed_rate"], 0.5);
}

// ---- end to end against the fault server ----------------------------------------------

namespace {

struct temp_dir : lmlab::testing::temp_dir {
  explicit temp_dir(const std::string& tag) : lmlab::testing::temp_dir("suites_tasks", tag) {}
};

// A fake model that adds digit strings in base 10 whatever base it is asked (recitation),
// answers every word problem with 8, and translates SCAN commands correctly.
std::string reciting_model(const json& q) {
  static const auto meaning = [] {
    std::map<std::string, std::string> m;
    for (const auto& c : lmlab::tasks::scan_all_commands()) {
      std::string a;
      for (const auto& x : c.actions) a += (a.empty() ? "" : " ") + x;
      m[c.command] = a;
    }
    return m;
  }();
  const std::string text = q.contains("messages") ? q["messages"].back()["content"].get<std::string>() : q.value("prompt", "");
  if (text.starts_with("In base ")) {
    int base = 0;
    char a[32], b[32];
    if (std::sscanf(text.c_str(), "In base %d, compute %31s + %31[0-9]", &base, a, b) == 3)
      return "The result is " + std::to_string(std::stoll(a) + std::stoll(b)) + ".";
  }
  if (const auto c = text.rfind("Command: "); c != std::string::npos) {
    const auto e = text.find('\n', c);
    return " " + meaning.at(text.substr(c + 9, e - c - 9)) + "\n\nCommand: walk\nActions: I_WALK";
  }
  if (text.find("Answer: N") != std::string::npos || text.find("답: N") != std::string::npos) return "Answer: 8";
  return "A";
}

}  // namespace

TEST(suites_tasks_runner, run_end_to_end_and_report_sections) {
  temp_dir d("e2e");
  lmlab::probe::testing::fault_server srv;
  srv.answer = reciting_model;
  lmlab::store::results_store db(d.path / "r.db");
  const endpoint_config cfg = lmlab::probe::testing::endpoint_for(srv, "reciter", 5);
  client c(cfg, &db);
  run_options o;
  o.suites = {"perturbation", "compositional"};
  o.output_dir = d.path / "out";
  o.suite_opts.n = 3;
  o.suite_opts.langs = {"en"};
  const auto sum = run_probe(c, db, o);
  EXPECT_EQ(sum.n_failed, 0);
  const auto n_pert = perturbation_suite().build(o.suite_opts).size();
  EXPECT_EQ(db.samples(sum.run_id, "perturbation").size(), n_pert);
  EXPECT_EQ(db.samples(sum.run_id, "compositional").size(), 12u);
  const auto& r = sum.results["results"];
  EXPECT_EQ(r["perturbation"]["acc_base10,none"], 1.0);
  EXPECT_EQ(r["perturbation"]["acc_base7,none"], 0.0);
  EXPECT_EQ(r["perturbation"]["recite_rate_base7,none"], 1.0);
  EXPECT_EQ(r["perturbation"]["drop_base9,none"], 1.0);
  // The fake answers 8 to every word problem: right exactly where the answer is 8.
  double eights = 0, originals = 0;
  for (const auto& it : perturbation_suite().build(o.suite_opts))
    if (it.doc["variant"] == "original") {
      ++originals;
      eights += it.target == "8";
    }
  EXPECT_GE(eights, 1);
  EXPECT_EQ(r["perturbation"]["acc_original,none"], eights / originals);
  EXPECT_EQ(r["compositional"]["acc,none"], 1.0);
  EXPECT_EQ(r["compositional"]["acc_length,none"], 1.0);

  // Report sections from the run's results.
  const std::vector<report_run> runs = {{"test/reciter", sum.results}};
  const auto doc = probe_report_document(runs);
  ASSERT_EQ(doc.sections.size(), 2u);
  EXPECT_EQ(doc.sections[0].id, "probe-perturbation");
  EXPECT_NE(doc.sections[0].answer.find(
                "arithmetic accuracy fell from 100% (base 10) to 0% (base 9), a drop of 100 points ± 0 (clustered SE), "
                "and 100% of those answers were the base-10 sum."),
            std::string::npos)
      << doc.sections[0].answer;
  EXPECT_EQ(doc.sections[1].answer,
            "Few-shot exact match was 100% on random, 100% on length, 100% on add jump and 100% on add turn left (n = 3 each).");
  lmlab::report::validate(doc);
  const auto html = lmlab::report::render_index_html(doc);
  EXPECT_NE(html.find("probe-perturbation-variants"), std::string::npos);
  EXPECT_NE(html.find("probe-compositional-splits"), std::string::npos);

  // The same results rebuilt from the store once the results file is gone.
  const auto from_file = stored_results(db, sum.run_id);
  EXPECT_EQ(from_file["results"], sum.results["results"]);
  fs::remove(sum.results_file);
  const auto rebuilt = stored_results(db, sum.run_id);
  EXPECT_EQ(rebuilt["rebuilt_from_store"], true);
  EXPECT_EQ(rebuilt["model_name"], "test/reciter");
  for (const char* suite : {"perturbation", "compositional"})
    for (auto it = sum.results["results"][suite].begin(); it != sum.results["results"][suite].end(); ++it)
      if (it.value().is_number()) {
        EXPECT_NEAR(rebuilt["results"][suite][it.key()].get<double>(), it.value().get<double>(), 1e-12) << suite << " " << it.key();
      }
  const auto loaded = load_report_runs(db, {std::to_string(sum.run_id), std::to_string(sum.run_id)});
  ASSERT_EQ(loaded.size(), 2u);
  EXPECT_EQ(loaded[0].label, "test/reciter #" + std::to_string(sum.run_id));
  EXPECT_NO_THROW(lmlab::report::validate(probe_report_document(loaded)));
  // What `lmlab report` gets through the registry: the finished run's sections, once.
  register_report_source();
  register_report_source();
  std::size_t probe_sources = 0;
  for (const auto& src : lmlab::report::section_sources()) {
    if (src.name != "probe") continue;
    ++probe_sources;
    const auto secs = src.sections(db);
    EXPECT_EQ(secs.size(), probe_report_sections({loaded[0]}).size());
    EXPECT_EQ(src.own_document(db).sections.size(), secs.size());
  }
  EXPECT_EQ(probe_sources, 1u);
}

// ---- report sections from hand-made results --------------------------------------------

namespace {

json hand_results() {
  json res = json::object();
  res["model_name"] = "local/m";
  res["results"] = {
      {"sycophancy", {{"flip_rate_opinion_wrong,none", 0.25}, {"flip_rate_opinion_right,none", 0.05}, {"challenge_flip_rate,none", 0.1}}},
      {"calibration", {{"ece,none", 0.0831}, {"ece_bins,none", 10}, {"temperature,none", 1.72}, {"ece_scaled,none", 0.0312}}},
      {"lost_in_middle", {{"acc,none", 0.8}, {"middle_drop_n20,none", 0.375}}},
      {"perturbation", {{"acc,none", 0.8}}},
      {"nondeterminism", {{"acc,none", 0.7}}},
      {"hallucination", {{"correct_rate_unanswerable,none", 0.6}, {"extrinsic_rate_unanswerable,none", 0.4},
                         {"intrinsic_rate_contradicted,none", 0.2}, {"correct_rate_answerable,none", 0.9}}},
      {"custom_suite", {{"acc,none", 0.5}}}};
  res["lmlab"] = {
      {"sycophancy", {{"slices", {{{"split", "opinion_wrong"}, {"slice", "all"}, {"metric", "flip_rate"}, {"value", 0.25}, {"n", 40}},
                                  {{"split", "opinion_right"}, {"slice", "all"}, {"metric", "flip_rate"}, {"value", 0.05}, {"n", 40}},
                                  {{"split", "challenge"}, {"slice", "all"}, {"metric", "flip_rate"}, {"value", 0.1}, {"n", 40}}}}}},
      {"calibration", {{"extra", {{"reliability", {{{"lo", 0.5}, {"hi", 0.6}, {"count", 10}, {"confidence", 0.55}, {"accuracy", 0.5}},
                                                   {{"lo", 0.9}, {"hi", 1.0}, {"count", 30}, {"confidence", 0.95}, {"accuracy", 0.7}},
                                                   {{"lo", 0.0}, {"hi", 0.1}, {"count", 0}, {"confidence", 0.0}, {"accuracy", 0.0}}}}}}}},
      {"lost_in_middle", {{"slices", {{{"split", "n_items=20"}, {"slice", "position=0"}, {"metric", "acc"}, {"value", 1.0}, {"n", 8}},
                                      {{"split", "n_items=20"}, {"slice", "position=10"}, {"metric", "acc"}, {"value", 0.5}, {"n", 8}},
                                      {{"split", "n_items=20"}, {"slice", "position=5"}, {"metric", "acc"}, {"value", 0.75}, {"n", 8}},
                                      {{"split", "n_items=20"}, {"slice", "position=19"}, {"metric", "acc"}, {"value", 0.75}, {"n", 8}}}}}},
      {"nondeterminism", {{"slices", {{{"split", "T=0.7,c=1"}, {"slice", "all"}, {"metric", "exact_match_agreement"}, {"value", 0.1}, {"n", 10}},
                                      {{"split", "T=0.7,c=1"}, {"slice", "all"}, {"metric", "answer_flip_rate"}, {"value", 0.3}, {"n", 10}},
                                      {{"split", "T=0,c=1"}, {"slice", "all"}, {"metric", "exact_match_agreement"}, {"value", 0.9}, {"n", 10}},
                                      {{"split", "T=0,c=1"}, {"slice", "all"}, {"metric", "answer_flip_rate"}, {"value", 0.0}, {"n", 10}}}}}},
      {"hallucination", {{"slices", {{{"split", "unanswerable"}, {"slice", "correct"}, {"metric", "rate"}, {"value", 0.6}, {"n", 10}},
                                     {{"split", "all"}, {"slice", "correct"}, {"metric", "rate"}, {"value", 0.7}, {"n", 30}}}}}},
      {"perturbation",
       {{"extra",
         {{"variants",
           {{{"family", "word_problem"}, {"variant", "original"}, {"acc", 0.92}, {"n", 13}, {"se_clustered", 0.05}},
            {{"family", "word_problem"}, {"variant", "numbers"}, {"acc", 0.85}, {"n", 52}, {"se_clustered", 0.04}, {"drop", 0.07}, {"drop_se_clustered", 0.03}},
            {{"family", "word_problem"}, {"variant", "noop"}, {"acc", 0.71}, {"n", 52}, {"se_clustered", 0.05}, {"drop", 0.21}, {"drop_se_clustered", 0.06}},
            {{"family", "arithmetic"}, {"variant", "base=10"}, {"acc", 0.95}, {"n", 40}, {"ci95_lo", 0.83}, {"ci95_hi", 0.99}},
            {{"family", "arithmetic"}, {"variant", "base=7"}, {"acc", 0.2}, {"n", 40}, {"se_clustered", 0.06}, {"drop", 0.75},
             {"drop_se_clustered", 0.05}, {"recite_rate", 0.6}}}}}}}}};
  return res;
}

}  // namespace

TEST(report_sections, measured_answers_from_hand_made_results) {
  const auto secs = probe_report_sections({{"local/m", hand_results()}});
  // all_suites() order, then suites this build does not know.
  std::vector<std::string> ids;
  for (const auto& s : secs) ids.push_back(s.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"probe-sycophancy", "probe-calibration", "probe-lost-in-middle", "probe-nondeterminism",
                                           "probe-hallucination", "probe-perturbation", "probe-custom_suite"}));
  const std::vector<std::pair<std::string, std::string>> answers = {
      {"probe-sycophancy",
       "With a wrong opinion in the prompt the model changed its answer on 25% of questions (95% CI 14%–40%, n = 40), "
       "against 5% with a right opinion; \"Are you sure?\" changed 10% of answers."},
      {"probe-calibration",
       "ECE was 0.083 with 10 equal-width bins on 40 test questions (accuracy 65%, mean confidence 85%: overconfident); "
       "temperature scaling fitted on the dev split (T = 1.72) gave ECE 0.031."},
      {"probe-lost-in-middle",
       "With 20 key-value pairs in the context, accuracy was 100% with the answer first, 50% at position 11 (the worst "
       "in the middle) and 75% with it last: a middle drop of 38 points."},
      {"probe-nondeterminism",
       "At T = 0 (concurrency 1) 90% of prompts gave identical outputs on every repeat and 0% changed their scored "
       "answer; at T = 0.7 (concurrency 1) 10% were identical and 30% changed."},
      {"probe-hallucination",
       "The model abstained on 60% of unanswerable questions and invented an answer on 40%, accepted a false premise "
       "on 20% and answered 90% of answerable questions correctly."},
      {"probe-perturbation",
       "Word-problem accuracy fell from 92% (original) to 71% (NoOp), a drop of 21 points ± 6 (clustered SE); "
       "arithmetic accuracy fell from 95% (base 10) to 20% (base 7), a drop of 75 points ± 5 (clustered SE), and 60% "
       "of those answers were the base-10 sum."},
      {"probe-custom_suite", "Accuracy was 50%."},
  };
  for (const auto& [id, answer] : answers) EXPECT_EQ(lmlab::testing::find_section(secs, id).answer, answer) << id;

  // Figures: data columns and rows as the sentences read them.
  const auto& syc = lmlab::testing::find_section(secs, "probe-sycophancy").figures.at(0);
  ASSERT_EQ(syc.data.rows().size(), 3u);
  EXPECT_EQ(syc.data.rows()[0][1].text, "wrong opinion");
  EXPECT_NEAR(*syc.data.rows()[0][3].number, 0.1419, 1e-4);  // Wilson 10/40
  const auto& cal = lmlab::testing::find_section(secs, "probe-calibration").figures.at(0);
  EXPECT_EQ(cal.data.rows().size(), 2u);  // the empty bin is left out
  const auto& lim = lmlab::testing::find_section(secs, "probe-lost-in-middle").figures.at(0);
  EXPECT_EQ(lim.kind, lmlab::report::figure_kind::line);
  EXPECT_EQ(*lim.data.rows()[1][3].number, 6.0);  // positions sorted, 1-based
  const auto& pert = lmlab::testing::find_section(secs, "probe-perturbation");
  ASSERT_EQ(pert.figures.size(), 2u);
  EXPECT_EQ(pert.figures[0].kind, lmlab::report::figure_kind::points_error);
  EXPECT_NEAR(*pert.figures[0].data.rows()[2][3].number, 0.71 - 1.96 * 0.05, 1e-12);  // NoOp lower bar
  EXPECT_NEAR(*pert.figures[1].data.rows()[0][3].number, 0.83, 1e-12);  // no clustered SE: the Wilson bound
  EXPECT_EQ(pert.figures[0].spec["layer"][0]["encoding"]["x"]["sort"],
            json({"original", "numbers changed", "NoOp"}));

  lmlab::report::document doc = probe_report_document({{"local/m", hand_results()}, {"local/n", hand_results()}});
  lmlab::report::validate(doc);
  EXPECT_EQ(lmlab::testing::find_section(doc.sections, "probe-sycophancy").answer.substr(0, 9), "local/m: ");
  EXPECT_TRUE(lmlab::testing::find_section(doc.sections, "probe-sycophancy").figures[0].spec["layer"][0]["encoding"].contains("xOffset"));
  const auto html = lmlab::report::render_index_html(doc);
  for (const char* id : {"probe-sycophancy-flips", "probe-calibration-reliability", "probe-lost-in-middle-position",
                         "probe-perturbation-variants", "probe-hallucination-labels"})
    EXPECT_NE(html.find(id), std::string::npos) << id;
  EXPECT_EQ(percent(0.923), "92%");
  EXPECT_EQ(points(0.2104), "21");
}

TEST(report_sections, writes_the_folder_when_assets_are_present) {
  try {
    lmlab::report::check_assets(lmlab::report::default_assets_dir());
  } catch (const lmlab::error&) {
    GTEST_SKIP() << "report assets not fetched (scripts/fetch-report-assets.sh)";
  }
  temp_dir d("write");
  const auto w = lmlab::report::write_report(probe_report_document({{"local/m", hand_results()}}), d.path / "rep");
  EXPECT_TRUE(fs::exists(w.index));
  EXPECT_EQ(w.figures, 7u);
  EXPECT_TRUE(fs::exists(d.path / "rep" / "fig-probe-perturbation-variants.csv"));
  const auto csv = lmlab::read_text_file(d.path / "rep" / "fig-probe-sycophancy-flips.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "run,condition,flip_rate,ci95_lo,ci95_hi,n");
}
