// A seeded end-to-end quick run of the alignment lab's runner (align_overopt, best-of-n) into a
// temporary store: the reference policy is pretrained, a proxy trained on gold-labelled
// pairs, and best-of-n against it must raise the gold reward at small KL (n = 4) above the
// reference policy's (n = 1); a spec naming the task parses, and a bad key is an error naming it.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "align/runners.hpp"
#include "core/error.hpp"
#include "lab/spec.hpp"
#include "ops/gemm.hpp"
#include "store/results_store.hpp"

using namespace lmlab;

namespace {
// A one-seed spec over a GPT of the given sizes, with the [task] and [train] bodies as given.
std::string gpt_spec(const std::string& name, int d_model, int n_layers, int n_heads, const std::string& task,
                     const std::string& train) {
  return "name = \"" + name + "\"\nseeds = 1\n[model]\narch = \"gpt\"\nd_model = " + std::to_string(d_model) +
         "\nn_layers = " + std::to_string(n_layers) + "\nn_heads = " + std::to_string(n_heads) + "\n[task]\n" + task +
         "[train]\n" + train;
}

const std::string kSpec = gpt_spec("align_e2e", 16, 1, 2, R"(name = "align_overopt"
optimizer = "bon"
policy_steps = 500
rm_pairs = 600
eval_pairs = 200
prompts = 24
pool = 64
bootstrap = 100
)", "steps = 250\nbatch_size = 32\nlr = 3e-3\n");
}  // namespace

TEST(align_e2e, best_of_n_against_a_proxy_beats_the_reference_at_small_kl) {
  align::register_align();
  set_num_threads(1);  // the lab runs each run on its share of the cores; tiny shapes gain nothing from two
  const auto spec = lab::parse_spec(kSpec, "align_e2e.toml");
  ASSERT_EQ(spec.runs.size(), 1u);
  const auto dir = std::filesystem::temp_directory_path() / ("lmlab_align_e2e_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    store::results_store db(dir / "lmlab.db");
    const auto id = db.create_run("lab", "align_e2e/x", spec.runs[0].config, 0);
    const auto res = lab::run_config_once({spec.runs[0].config, spec.runs[0].seed, {}, &db, id, nullptr});
    std::map<std::string, double> m;
    for (const auto& p : db.metrics(id)) m[p.name] = p.value;
    ASSERT_TRUE(m.count("gold_ref") && m.count("gold_gain_small") && m.count("rm_accuracy"));
    EXPECT_GT(m["rm_accuracy"], 0.6) << "the proxy did not learn the preferences";
    EXPECT_GT(m["gold_gain_small"], 0.0) << "gold at n = 4 did not exceed the reference's " << m["gold_ref"];
    EXPECT_GT(res.test_accuracy, m["gold_ref"]);
    std::map<std::string, double> kl;
    for (const auto& e : db.evaluations(id))
      if (e.metric == "kl") kl[e.slice] = e.value;
    EXPECT_NEAR(kl["n=64"], std::log(64.0) - 63.0 / 64.0, 1e-12);
  }
  std::filesystem::remove_all(dir);
}

TEST(align_e2e, spec_errors_name_the_key) {
  align::register_align();
  try {
    lab::parse_spec("name = \"a\"\n[task]\nname = \"align_overopt\"\npool = 100\n[train]\nsteps = 1\n", "a.toml");
    FAIL() << "pool = 100 was accepted";
  } catch (const lmlab::error& e) {
    EXPECT_NE(std::string(e.what()).find("pool"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("power of 2"), std::string::npos) << e.what();
  }
  try {
    lab::parse_spec("name = \"a\"\n[task]\nname = \"align_overopt\"\noptimiser = \"rl\"\n[train]\nsteps = 1\n", "a.toml");
    FAIL() << "a misspelt key was accepted";
  } catch (const lmlab::error& e) {
    EXPECT_NE(std::string(e.what()).find("optimiser"), std::string::npos) << e.what();
  }
}

namespace {
// Runs one spec's first run into a temporary store; returns run metrics and evaluations
// (metric@slice).
std::pair<std::map<std::string, double>, std::map<std::string, double>> run_first(const std::string& toml, const char* tag) {
  align::register_align();
  set_num_threads(1);
  const auto spec = lab::parse_spec(toml, std::string(tag) + ".toml");
  const auto dir = std::filesystem::temp_directory_path() / (std::string("lmlab_") + tag + "_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::map<std::string, double> m, ev;
  {
    store::results_store db(dir / "lmlab.db");
    const auto id = db.create_run("lab", std::string(tag) + "/x", spec.runs[0].config, 0);
    lab::run_config_once({spec.runs[0].config, spec.runs[0].seed, {}, &db, id, nullptr});
    for (const auto& p : db.metrics(id)) m[p.name] = p.value;
    for (const auto& e : db.evaluations(id)) ev[e.metric + "@" + e.slice] = e.value;
  }
  std::filesystem::remove_all(dir);
  return {m, ev};
}
}  // namespace

// rm_from_policy with a proxy of another shape than the policy fails before any training,
// naming the key.
TEST(align_e2e, a_proxy_from_the_policy_must_have_its_shape) {
  try {
    run_first(gpt_spec("f", 16, 2, 2, "name = \"align_overopt\"\noptimizer = \"rl\"\nrm_from_policy = true\n", "steps = 1\n"),
              "align_from_policy");
    FAIL() << "a d_model 16 proxy was started from a d_model 32 policy";
  } catch (const lmlab::error& e) {
    EXPECT_NE(std::string(e.what()).find("rm_from_policy"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("policy_d_model 32"), std::string::npos) << e.what();
  }
}

// Specification gaming: best-of-n against a format check picks well-formed answers (the check
// passes almost always at n = 64) while a share of them is wrong; no reward model is trained.
TEST(align_e2e, a_format_check_is_passed_while_gold_fails) {
  const auto [m, ev] = run_first(gpt_spec("g", 8, 1, 2, R"(name = "align_overopt"
optimizer = "bon"
reward = "format"
policy_steps = 400
prompts = 16
pool = 64
bootstrap = 20
)", "steps = 1\n"), "align_gaming");
  EXPECT_EQ(m.count("rm_accuracy"), 0u) << "a programmatic proxy trains no reward model";
  EXPECT_GT(ev.at("format_pass@n=64"), 0.99);
  EXPECT_GE(ev.at("format_pass@n=64"), ev.at("format_pass@n=1"));
  EXPECT_GT(ev.at("wellformed_wrong@n=64"), 0.05) << "the reference is wrong 30% of the time";
  EXPECT_LT(ev.at("accuracy@n=64"), 0.95);
  // proxy - gold = 1[well formed and wrong] sample by sample, so in expectation too
  EXPECT_NEAR(ev.at("proxy@n=64") - ev.at("gold@n=64"), ev.at("wellformed_wrong@n=64"), 1e-9);
}

// Outcome vs process supervision, end to end: the runner trains a process reward model from
// the reference policy's weights and reranks; the estimators agree with each other (pass@n
// bounds best-of-n, majority voting of one sample is a sample's accuracy). Whether the reward
// model learns the real task is the experiment's question (docs/align.md: at these sizes it
// does not); that the training loop can learn is align_chain.reward_model_training_learns_a_readable_label.
TEST(align_e2e, the_outcome_vs_process_runner_reranks_with_consistent_estimators) {
  const auto [m, ev] = run_first(gpt_spec("p", 32, 2, 4, R"(name = "align_prm"
terms = 3
supervision = "process"
policy_steps = 600
rm_samples = 400
eval_samples = 100
prompts = 12
pool = 32
votes = 400
)", "steps = 60\nlr = 3e-4\n"), "align_prm");
  EXPECT_GE(m.at("rm_auc"), 0.0);
  EXPECT_LE(m.at("rm_auc"), 1.0);
  EXPECT_GT(m.at("ref_accuracy"), 0.25) << "the reference policy did not learn the chain task";
  for (const char* n : {"n=1", "n=4", "n=32"})
    EXPECT_GE(ev.at(std::string("pass_at_n@") + n) + 1e-12, ev.at(std::string("accuracy@") + n)) << n;
  EXPECT_NEAR(ev.at("majority_vote@n=1"), ev.at("accuracy@n=1"), 0.06);
  EXPECT_NEAR(ev.at("pass_at_n@n=1"), ev.at("accuracy@n=1"), 1e-12);
}

// RL's evaluations use common random numbers (the same prompts and uniforms at every step):
// a policy that does not move (rl_lr 0) is evaluated on the very same samples, so every
// evaluation equals step 0's and the KL is 0 (to float rounding); the run logs its best-of-n comparison on the same
// proxy, which at RL's peak (step 0, d 0) is 0.
TEST(align_e2e, rl_evaluations_share_their_draws_and_compare_with_best_of_n) {
  const auto [m, ev] = run_first(gpt_spec("r", 8, 1, 2, R"(name = "align_overopt"
optimizer = "rl"
policy_steps = 100
rm_pairs = 64
eval_pairs = 32
rl_steps = 4
rl_prompts = 2
rl_group = 4
rl_lr = 0
eval_every = 2
eval_prompts = 6
eval_samples = 4
prompts = 6
pool = 8
bootstrap = 10
)", "steps = 5\n"), "align_rl_crn");
  for (const char* s : {"step=2", "step=4"}) {
    ASSERT_TRUE(ev.count(std::string("gold@") + s)) << s;
    EXPECT_EQ(ev.at(std::string("gold@") + s), ev.at("gold@step=0")) << s;
    EXPECT_NEAR(ev.at(std::string("kl@") + s), 0.0, 1e-6) << s;  // the sampler's and the forward's float sums
  }
  EXPECT_EQ(m.at("gold_gain_small"), 0.0);
  ASSERT_TRUE(m.count("bon_minus_rl_at_peak") && m.count("bon_gain_at_rl_peak"));
  EXPECT_EQ(m.at("bon_gain_at_rl_peak"), 0.0);
  EXPECT_EQ(m.at("bon_minus_rl_at_peak"), 0.0);
}
