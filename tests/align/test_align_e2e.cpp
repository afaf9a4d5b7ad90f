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
const char* kSpec = R"(name = "align_e2e"
seeds = 1
[model]
arch = "gpt"
d_model = 16
n_layers = 1
n_heads = 2
[task]
name = "align_overopt"
optimizer = "bon"
policy_steps = 500
rm_pairs = 600
eval_pairs = 200
prompts = 24
pool = 64
bootstrap = 100
[train]
steps = 250
batch_size = 32
lr = 3e-3
)";
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
