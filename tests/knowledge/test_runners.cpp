// The knowledge runners end to end on tiny configs, writing to a temporary results store:
// each spec-shaped config runs, writes the evaluations the experiments' [expect] rules read,
// and is deterministic; a tiny reversal model learns its trained direction.
#include "knowledge/runners.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>

#include "core/error.hpp"
#include "lab/runner.hpp"
#include "ops/gemm.hpp"
#include "store/results_store.hpp"

using namespace lmlab;
namespace fs = std::filesystem;

namespace {

nlohmann::json config_of(nlohmann::json task, std::int64_t steps) {
  return {{"model", {{"arch", "gpt"}, {"d_model", 32}, {"n_layers", 2}, {"n_heads", 2}, {"pos_encoding", "rope"}}},
          {"task", std::move(task)},
          {"train", {{"steps", steps}, {"batch_size", 16}, {"lr", 1e-2}, {"warmup_steps", 20}}}};
}

// (slice, metric) -> value of the run's test evaluations.
using evals = std::map<std::pair<std::string, std::string>, double>;

struct stored_run {
  lab::run_result result;
  evals ev;
  std::map<std::string, std::vector<std::pair<std::int64_t, double>>> metrics;  // name -> (step, value)
};

stored_run run_stored(const nlohmann::json& config, std::uint64_t seed) {
  knowledge::register_knowledge();
  set_num_threads(1);  // tiny shapes: one thread (as a lab child with -j = cores), no spinning pool
  const fs::path dir = fs::temp_directory_path() / fmt::format("lmlab_knowledge_{}_{}", ::getpid(), seed);
  fs::create_directories(dir);
  stored_run out;
  {
    store::results_store db(dir / "lmlab.db");
    const auto id = db.create_run("lab", fmt::format("k/{}", config["task"]["name"].get<std::string>()), config, 0);
    out.result = lab::run_config_once({config, seed, {}, &db, id, nullptr});
    for (const auto& e : db.evaluations(id))
      if (e.split == "test") out.ev[{e.slice, e.metric}] = e.value;
    for (const auto& m : db.metrics(id)) out.metrics[m.name].emplace_back(m.step, m.value);
  }
  fs::remove_all(dir);
  return out;
}

}  // namespace

TEST(knowledge_runners, reversal_learns_the_trained_direction_and_logs_the_name_ranking) {
  const auto cfg = config_of({{"name", "reversal"}, {"num_pairs", 12}, {"both_fraction", 0.25}, {"phrasings", 1}, {"num_random", 5}}, 400);
  const auto r = run_stored(cfg, 1);
  EXPECT_EQ(r.result.steps, 400);
  EXPECT_GE(r.ev.at({"forward", "accuracy"}), 0.8) << "a 2-layer model should memorise 12 forward statements";
  for (const char* s : {"forward", "reverse"}) {
    EXPECT_TRUE(r.ev.count({s, "logprob_gap"})) << s;
    const double rank = r.ev.at({s, "rank"});
    EXPECT_GE(rank, 0.0);
    EXPECT_LE(rank, 1.0);
  }
  EXPECT_GT(r.ev.at({"forward", "logprob_gap"}), 1.0);  // the trained direction is far above random names
  EXPECT_TRUE(r.ev.count({"both_reverse", "accuracy"}));
  EXPECT_TRUE(r.ev.count({"all", "accuracy"}));
  // Deterministic: the same config and seed give the same numbers.
  const auto again = run_stored(cfg, 1);
  EXPECT_EQ(again.ev, r.ev);
}

TEST(knowledge_runners, biographies_logs_every_slice_and_the_probes) {
  const auto cfg = config_of({{"name", "biographies"}, {"num_people", 20}, {"finetune_steps", 30}, {"unknown_people", 4},
                              {"unseen_people", 4}},
                             60);
  const auto r = run_stored(cfg, 2);
  EXPECT_EQ(r.result.steps, 90);
  for (const auto& a : knowledge::attributes()) {
    for (const char* p : {"qa_seen/", "storage/", "extract/", "unseen/"}) {
      EXPECT_TRUE(r.ev.count({p + a.name, "accuracy"})) << p << a.name;
      EXPECT_TRUE(r.ev.count({p + a.name, "abstain"})) << p << a.name;
    }
    EXPECT_TRUE(r.ev.count({"name/" + a.name, "probe_accuracy"})) << a.name;
    // On unseen people the right answer is "unknown": accuracy and abstention are one number.
    EXPECT_DOUBLE_EQ(r.ev.at({"unseen/" + a.name, "accuracy"}), r.ev.at({"unseen/" + a.name, "abstain"}));
  }
  // Every question's answer has one taxonomy label (the shared classifier); on never-seen people
  // "correct" is abstaining, and the rest are invented values (extrinsic) or non-values (fabricated).
  for (const auto& a : knowledge::attributes())
    for (const char* p : {"qa_seen/", "extract/", "unseen/"}) {
      double sum = 0;
      for (const char* l : {"correct", "abstention", "intrinsic", "fabricated", "extrinsic"}) sum += r.ev.at({p + a.name, l});
      EXPECT_NEAR(sum, 1.0, 1e-12) << p << a.name;
      EXPECT_NEAR(r.ev.at({p + a.name, "correct"}), r.ev.at({p + a.name, "accuracy"}), 1e-12) << p << a.name;
      EXPECT_DOUBLE_EQ(r.ev.at({p + a.name, "intrinsic"}), 0.0) << p << a.name;  // no passage to contradict
      if (std::string(p) != "unseen/") EXPECT_NEAR(r.ev.at({p + a.name, "abstention"}), r.ev.at({p + a.name, "abstain"}), 1e-12);
    }
  // The paired abstention gap of the run: the unseen/* mean minus the extract/* mean (equal counts).
  double unseen = 0, extract = 0;
  for (const auto& a : knowledge::attributes())
    unseen += r.ev.at({"unseen/" + a.name, "abstain"}), extract += r.ev.at({"extract/" + a.name, "abstain"});
  const double k = static_cast<double>(knowledge::attributes().size());
  ASSERT_TRUE(r.ev.count({"paired/unseen-extract", "abstain"}));
  EXPECT_NEAR(r.ev.at({"paired/unseen-extract", "abstain"}), (unseen - extract) / k, 1e-12);
  for (const char* m : {"ece", "brier", "mean_confidence", "accuracy"}) {
    ASSERT_TRUE(r.ev.count({"qa", m})) << m;
    EXPECT_GE(r.ev.at({"qa", m}), 0.0);
    EXPECT_LE(r.ev.at({"qa", m}), 1.0);
  }
}

TEST(knowledge_runners, kb_context_logs_accuracy_taxonomy_and_conflict_rates) {
  const auto cfg = config_of({{"name", "kb_context"}, {"num_people", 8}, {"max_copies", 2}, {"novel_people", 4},
                              {"context_train", 200}, {"context_pool", 10}},
                             60);
  const auto r = run_stored(cfg, 4);
  for (const std::string s : {"closed/f=1", "closed/f=2", "agree/f=1", "conflict/f=2", "missing/f=1", "novel/open",
                              "novel/missing", "novel/closed", "all"}) {
    ASSERT_TRUE(r.ev.count({s, "accuracy"})) << s;
    double sum = 0;
    for (const char* l : {"correct", "abstention", "intrinsic", "fabricated", "extrinsic"}) {
      ASSERT_TRUE(r.ev.count({s, l})) << s << " " << l;
      sum += r.ev.at({s, l});
    }
    EXPECT_NEAR(sum, 1.0, 1e-12) << s;  // one label per answer
    EXPECT_NEAR(r.ev.at({s, "correct"}), r.ev.at({s, "accuracy"}), 1e-12) << s;  // correct = exact match
  }
  for (const std::string s : {"conflict/f=1", "conflict/f=2", "agree/f=1"}) {
    ASSERT_TRUE(r.ev.count({s, "follow_context"})) << s;
    EXPECT_LE(r.ev.at({s, "follow_context"}) + (s[0] == 'c' ? r.ev.at({s, "follow_memory"}) : 0.0), 1.0 + 1e-12) << s;
  }
  // With an agreeing passage the passage's value is the trained one: one number.
  EXPECT_DOUBLE_EQ(r.ev.at({"agree/f=1", "follow_context"}), r.ev.at({"agree/f=1", "follow_memory"}));
  EXPECT_FALSE(r.ev.count({"closed/f=1", "follow_context"}));
  // On a conflict "correct" is following the passage; answering the trained value is intrinsic.
  EXPECT_DOUBLE_EQ(r.ev.at({"conflict/f=2", "correct"}), r.ev.at({"conflict/f=2", "follow_context"}));
  EXPECT_LE(r.ev.at({"conflict/f=2", "follow_memory"}), r.ev.at({"conflict/f=2", "intrinsic"}) + 1e-12);
  // Memory's pull under conflict: a probability of the trained value on conflict slices only, its
  // mean log below the log of its mean (Jensen).
  for (const std::string s : {"conflict/f=1", "conflict/f=2"}) {
    ASSERT_TRUE(r.ev.count({s, "memory_prob"})) << s;
    const double p = r.ev.at({s, "memory_prob"}), lp = r.ev.at({s, "memory_logprob"});
    EXPECT_GT(p, 0.0) << s;
    EXPECT_LT(p, 1.0) << s;
    EXPECT_LE(lp, std::log(p) + 1e-12) << s;
  }
  for (const std::string s : {"agree/f=1", "closed/f=1", "novel/open", "all"}) EXPECT_FALSE(r.ev.count({s, "memory_prob"})) << s;
  EXPECT_EQ(run_stored(cfg, 4).ev, r.ev);  // deterministic
}

TEST(knowledge_runners, biographies_reliability_bins_slice_the_questions_by_confidence) {
  const auto cfg = config_of({{"name", "biographies"}, {"num_people", 20}, {"mode", "mixed"}, {"unseen_people", 4},
                              {"reliability_bins", 10}},
                             80);
  knowledge::register_knowledge();
  set_num_threads(1);
  const fs::path dir = fs::temp_directory_path() / fmt::format("lmlab_knowledge_rel_{}", ::getpid());
  fs::create_directories(dir);
  {
    store::results_store db(dir / "lmlab.db");
    const auto id = db.create_run("lab", "k/rel", cfg, 0);
    lab::run_config_once({cfg, 5, {}, &db, id, nullptr});
    std::int64_t n = 0, n_all = -1;
    double weighted = 0, acc_all = -1;
    std::map<std::string, std::pair<double, std::int64_t>> bin_acc;  // slice -> (accuracy, n)
    std::map<std::string, double> bin_conf, qa;                     // slice -> mean confidence; qa metrics
    for (const auto& e : db.evaluations(id)) {
      if (e.split != "test") continue;
      if (e.slice == "qa") qa[e.metric] = e.value;
      if (e.metric == "mean_confidence" && e.slice != "qa") bin_conf[e.slice] = e.value;
      if (e.metric != "accuracy") continue;
      if (e.slice.rfind("confidence=", 0) == 0) bin_acc[e.slice] = {e.value, e.n};
      if (e.slice == "all") {
        n_all = e.n, acc_all = e.value;
        continue;
      }
      if (e.slice == "qa") continue;  // log_abstention_and_calibration's overall question accuracy
      ASSERT_EQ(e.slice.rfind("confidence=", 0), 0u) << e.slice;  // no question-kind slices
      const double mid = std::stod(e.slice.substr(11));
      EXPECT_NEAR(std::fmod(mid * 10, 1.0), 0.5, 1e-9) << e.slice;  // a bin middle of 10 bins
      n += e.n;
      weighted += e.value * static_cast<double>(e.n);
    }
    // Every question in one bin: 10 QA people, 10 read-about people, 4 unseen, 5 questions each.
    EXPECT_EQ(n, 5 * (10 + 10 + 4));
    EXPECT_EQ(n_all, n);
    EXPECT_NEAR(weighted / static_cast<double>(n), acc_all, 1e-12);
    // The diagram's bins are the ECE's (analysis::expected_calibration_error, the probe harness's
    // estimator): recomputing ECE from the bins' accuracy and mean confidence gives ece@qa.
    ASSERT_EQ(bin_conf.size(), bin_acc.size());
    double ece = 0;
    for (const auto& [slice, a] : bin_acc) {
      ASSERT_TRUE(bin_conf.count(slice)) << slice;
      const double mid = std::stod(slice.substr(11));
      EXPECT_GE(bin_conf.at(slice), mid - 0.05 - 1e-12) << slice;  // the mean lies in its bin
      EXPECT_LE(bin_conf.at(slice), mid + 0.05 + 1e-12) << slice;
      ece += static_cast<double>(a.second) * std::abs(a.first - bin_conf.at(slice));
    }
    ASSERT_TRUE(qa.count("ece"));
    EXPECT_GT(qa.at("ece"), 0.0);
    EXPECT_NEAR(ece / static_cast<double>(n), qa.at("ece"), 1e-9);
    bool seen = false;
    for (const auto& e : db.evaluations(id)) seen = seen || (e.slice == "qa_seen" && e.metric == "exact_match");
    EXPECT_TRUE(seen);
  }
  fs::remove_all(dir);
}

TEST(knowledge_runners, knowledge_edit_logs_efficacy_paraphrase_specificity) {
  const auto cfg = config_of({{"name", "knowledge_edit"}, {"num_people", 20}, {"mode", "mixed"}, {"num_edits", 3},
                              {"num_neighbours", 4}, {"layer", 0}, {"value_steps", 10}, {"finetune_edit_steps", 5}},
                             100);
  const auto r = run_stored(cfg, 3);
  for (const char* s : {"none", "rome", "finetune"})
    for (const char* m : {"efficacy", "paraphrase", "specificity"}) {
      ASSERT_TRUE(r.ev.count({s, m})) << s << " " << m;
      EXPECT_GE(r.ev.at({s, m}), 0.0);
      EXPECT_LE(r.ev.at({s, m}), 1.0);
    }
  // The unedited model never already gives the new value as the argmax answer... unless it
  // guesses it: with 3 edits, at most a chance hit; neighbours keep their own answers.
  EXPECT_DOUBLE_EQ(r.ev.at({"none", "specificity"}), 1.0);
  // The paired rows: rank-one minus fine-tuning of the same edits.
  for (const char* m : {"efficacy", "paraphrase", "specificity"}) {
    ASSERT_TRUE(r.ev.count({"paired/rome-finetune", m})) << m;
    EXPECT_NEAR(r.ev.at({"paired/rome-finetune", m}), r.ev.at({"rome", m}) - r.ev.at({"finetune", m}), 1e-12) << m;
  }
}

TEST(knowledge_runners, an_edit_of_the_last_block_is_an_error) {
  knowledge::register_knowledge();
  set_num_threads(1);
  const auto cfg = config_of({{"name", "knowledge_edit"}, {"num_people", 20}, {"mode", "mixed"}, {"num_edits", 1},
                              {"num_neighbours", 2}, {"layer", -1}},
                             5);
  try {
    lab::run_config_once({cfg, 0, {}, nullptr, -1, nullptr});
    FAIL() << "an edit of the last block was accepted";
  } catch (const lmlab::error& e) {
    EXPECT_NE(std::string(e.what()).find("task.layer"), std::string::npos) << e.what();
  }
}

TEST(knowledge_runners, runner_budget_must_be_steps) {
  knowledge::register_knowledge();
  auto cfg = config_of({{"name", "reversal"}, {"num_pairs", 12}, {"num_random", 3}}, 10);
  cfg["train"].erase("steps");
  cfg["train"]["tokens"] = 1000;
  try {
    lab::run_config_once({cfg, 0, {}, nullptr, -1, nullptr});
    FAIL() << "a token budget was accepted";
  } catch (const lmlab::error& e) {
    EXPECT_NE(std::string(e.what()).find("train.steps"), std::string::npos) << e.what();
  }
}

TEST(knowledge_runners, biographies_attention_finetune_logs_extraction_along_the_way_and_pretrained_probes) {
  const auto cfg = config_of({{"name", "biographies"}, {"num_people", 20}, {"finetune_steps", 30}, {"finetune_params", "attention"},
                              {"finetune_eval_every", 10}},
                             60);
  const auto r = run_stored(cfg, 3);
  for (const char* m : {"finetune_extract", "finetune_storage", "finetune_qa_seen"}) {
    ASSERT_TRUE(r.metrics.count(m)) << m;
    const auto& pts = r.metrics.at(m);
    ASSERT_EQ(pts.size(), 3u) << m;  // after fine-tuning steps 10, 20, 30
    EXPECT_EQ(pts[0].first, 70);
    EXPECT_EQ(pts[2].first, 90);
  }
  // The last point is the final model: the same accuracy the test slices report.
  double extract = 0;
  for (const auto& a : knowledge::attributes()) extract += r.ev.at({"extract/" + a.name, "accuracy"});
  EXPECT_NEAR(r.metrics.at("finetune_extract").back().second, extract / 5.0, 1e-9);
  for (const char* p : {"name/all", "pretrained/name/all"}) {
    ASSERT_TRUE(r.ev.count({p, "probe_accuracy"})) << p;
    double chance = 0;
    for (const auto& a : knowledge::attributes()) chance += 1.0 / static_cast<double>(a.values.size());
    EXPECT_NEAR(r.ev.at({p, "probe_chance"}), chance / 5.0, 1e-12) << p;
  }
}

TEST(knowledge_runners, knowledge_edit_traces_every_block_and_edits_the_most_used_one) {
  auto cfg = config_of({{"name", "knowledge_edit"}, {"num_people", 20}, {"mode", "mixed"}, {"num_edits", 2},
                        {"num_neighbours", 4}, {"layer", 0}, {"value_steps", 5}, {"finetune_edit_steps", 3},
                        {"trace_questions", 6}, {"layer_select", "traced"}},
                       60);
  cfg["model"]["n_layers"] = 4;
  const auto r = run_stored(cfg, 4);
  ASSERT_TRUE(r.ev.count({"trace/clean", "answer_prob"}));
  double lowest = 2;
  std::int64_t argmin = -1;
  for (std::int64_t L = 0; L < 3; ++L) {  // blocks 0..2 of 4 (the last is not traced)
    const auto key = std::make_pair(fmt::format("trace/block={}", L), std::string("answer_prob"));
    ASSERT_TRUE(r.ev.count(key)) << L;
    if (r.ev.at(key) < lowest) lowest = r.ev.at(key), argmin = L;
  }
  EXPECT_FALSE(r.ev.count({"trace/block=3", "answer_prob"}));
  EXPECT_EQ(r.ev.at({"rome", "layer"}), static_cast<double>(argmin));
  EXPECT_TRUE(r.ev.count({"rome", "efficacy"}));
}

TEST(knowledge_runners, traced_layer_selection_needs_trace_questions) {
  knowledge::register_knowledge();
  const auto cfg = config_of({{"name", "knowledge_edit"}, {"num_people", 30}, {"mode", "mixed"}, {"layer_select", "traced"}}, 10);
  try {
    knowledge::check(knowledge::edit_params().read(cfg["task"], {"name"}));
    FAIL() << "no error";
  } catch (const tasks::param_error& e) {
    EXPECT_NE(std::string(e.what()).find("trace_questions"), std::string::npos) << e.what();
  }
}

// The LoRA fine-tuning end to end: the curve scored along the way sees the merged adapters (its
// last point equals the final test slices), and the QA fine-tuning moves the model (the QA
// people's accuracy changes along it or from the pretrained model's storage-only start).
TEST(knowledge_runners, biographies_lora_finetune_scores_the_merged_model) {
  const auto cfg = config_of({{"name", "biographies"}, {"num_people", 20}, {"finetune_steps", 30}, {"finetune_params", "lora"},
                              {"lora_targets", "w_q+w_v+wte"}, {"lora_rank", 4}, {"finetune_lr", 1e-2}, {"finetune_eval_every", 10}},
                             60);
  const auto r = run_stored(cfg, 3);
  ASSERT_EQ(r.metrics.at("finetune_extract").size(), 3u);
  double extract = 0, qa = 0;
  for (const auto& a : knowledge::attributes()) {
    extract += r.ev.at({"extract/" + a.name, "accuracy"});
    qa += r.ev.at({"qa_seen/" + a.name, "accuracy"});
  }
  EXPECT_NEAR(r.metrics.at("finetune_extract").back().second, extract / 5.0, 1e-9);
  EXPECT_NEAR(r.metrics.at("finetune_qa_seen").back().second, qa / 5.0, 1e-9);
  EXPECT_TRUE(std::isfinite(r.result.final_train_loss));
  // The adapters move the model: the QA people's accuracy or the storage changes along the curve
  // (without the merge after each step every point would score the pretrained model).
  const auto& q = r.metrics.at("finetune_qa_seen");
  const auto& st = r.metrics.at("finetune_storage");
  EXPECT_TRUE(q.front().second != q.back().second || st.front().second != st.back().second)
      << "qa " << q.front().second << " -> " << q.back().second << ", storage " << st.front().second << " -> " << st.back().second;
}

TEST(knowledge_runners, lora_targets_that_name_no_parameter_are_an_error) {
  const auto cfg = config_of({{"name", "biographies"}, {"num_people", 10}, {"finetune_steps", 2}, {"finetune_params", "lora"},
                              {"lora_targets", "w_query"}},
                             2);
  knowledge::register_knowledge();
  set_num_threads(1);
  try {
    lab::run_config_once({cfg, 1, {}, nullptr, 0, nullptr});  // no store: the error comes before any row
    FAIL() << "no error";
  } catch (const lmlab::error& e) {
    EXPECT_NE(std::string(e.what()).find("lora_targets"), std::string::npos) << e.what();
  }
}
