// Environment (b) of the alignment lab (align/lm_env.hpp) on a toy word corpus (the real one,
// Brown, is the experiment's: experiments/align_overopt_lm.toml): the hidden rule is a fixed,
// deterministic function of the words' text; the gold reward model is deterministic in its seed
// and learns the rule (held-out accuracy above 0.8); a seeded tiny end-to-end run's best-of-4
// beats the reference policy on gold.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "align/lm_env.hpp"
#include "core/error.hpp"
#include "lab/spec.hpp"
#include "ops/gemm.hpp"
#include "store/results_store.hpp"

using namespace lmlab;

namespace {
// 60 words w0..w59 (ids 2..61 after <s>, <unk>) in chunks of 12 from a noisy first-order chain:
// each word's successor is one of three fixed words, so a small GPT learns it quickly.
align::word_corpus toy_corpus(std::int64_t chunks_train = 600, std::int64_t chunks_held = 100) {
  align::word_corpus c;
  c.words = {"<s>", "<unk>"};
  for (int i = 0; i < 60; ++i) c.words.push_back("w" + std::to_string(i));
  c.chunk = 12;
  rng r(7, 1);
  auto fill = [&](std::vector<std::int32_t>& to, std::int64_t chunks) {
    std::int32_t w = 2;
    for (std::int64_t i = 0; i < chunks * c.chunk; ++i) {
      const std::int32_t k = static_cast<std::int32_t>(r.below(3));
      w = 2 + static_cast<std::int32_t>(((w - 2) * 7 + k * 13 + 1) % 60);
      to.push_back(r.uniform() < 0.1 ? 1 : w);
    }
  };
  fill(c.train, chunks_train);
  fill(c.heldout, chunks_held);
  return c;
}

// The tiny run's task keys, read through the task's own table (as a spec's [task] is).
const nlohmann::json& tiny_task() {
  static const nlohmann::json t = {{"policy_d_model", 16}, {"policy_layers", 1}, {"policy_heads", 2},
                                   {"policy_steps", 200},  {"gold_d_model", 32}, {"gold_layers", 1},
                                   {"gold_heads", 2},      {"gold_pairs", 1500}, {"gold_eval_pairs", 300},
                                   {"gold_steps", 300}};
  return t;
}

align::lm_overopt_config tiny_config() { return align::lm_overopt_params().read(tiny_task()); }
}  // namespace

TEST(align_lm, the_hidden_rule_is_a_fixed_function_of_the_words) {
  // The lexicon depends on the word's text and the rule seed only.
  EXPECT_EQ(align::lexicon_weight("jury", 1, 0.3), align::lexicon_weight("jury", 1, 0.3));
  int differ = 0, pos = 0, neg = 0;
  const int W = 4000;
  for (int i = 0; i < W; ++i) {
    const std::string w = "word" + std::to_string(i);
    const int a = align::lexicon_weight(w, 1, 0.3);
    differ += a != align::lexicon_weight(w, 2, 0.3);
    pos += a > 0;
    neg += a < 0;
  }
  EXPECT_GT(differ, W / 10) << "another rule seed should give another lexicon";
  // +1 and -1 each with probability 0.15: within 4 binomial standard errors (sd = 22.6 words)
  EXPECT_NEAR(pos, 0.15 * W, 4 * 22.6);
  EXPECT_NEAR(neg, 0.15 * W, 4 * 22.6);

  const align::corpus_env env(toy_corpus(20, 5), tiny_config().env());
  const align::corpus_env again(toy_corpus(20, 5), tiny_config().env());
  std::int32_t p = -1, n = -1, z = -1;
  for (std::int32_t i = 2; i < env.vocab_size(); ++i) {
    EXPECT_EQ(env.lexicon(i), again.lexicon(i));
    EXPECT_EQ(env.lexicon(i), align::lexicon_weight("w" + std::to_string(i - 2), 1, 0.3));
    (env.lexicon(i) > 0 ? p : env.lexicon(i) < 0 ? n : z) = i;
  }
  ASSERT_TRUE(p >= 0 && n >= 0 && z >= 0) << "the toy vocabulary should hold each kind of word";
  EXPECT_EQ(env.lexicon(0), 0);  // <s>
  EXPECT_EQ(env.lexicon(1), 0);  // <unk>
  // Hand cases (repeat_penalty 1): +1 - 1 + 0; a repeated positive word costs 1 instead of paying 1.
  EXPECT_EQ(env.rule({p, n, z}), 0.0);
  EXPECT_EQ(env.rule({p, z, z}), 1.0);
  EXPECT_EQ(env.rule({p, p}), 0.0);
  EXPECT_EQ(env.rule({p, p, p}), -1.0);
  EXPECT_EQ(env.rule({n, n, 1, 0}), -2.0);
  // The prompt is <s> + the chunk's first prompt_words words, the response the rest.
  const auto [x, y] = env.example(0);
  EXPECT_EQ(x.size(), 5u);
  EXPECT_EQ(x[0], env.bos());
  EXPECT_EQ(y.size(), 8u);
}

TEST(align_lm, bad_corpora_and_keys_are_errors) {
  auto c = toy_corpus(5, 2);
  c.chunk = 10;
  EXPECT_THROW(align::corpus_env(c, tiny_config().env()), lmlab::error);  // 10 != 4 + 8
  auto cfg = tiny_config();
  cfg.pool = 100;
  try {
    align::check(cfg);
    FAIL() << "pool = 100 was accepted";
  } catch (const tasks::param_error& e) {
    EXPECT_NE(std::string(e.what()).find("power of 2"), std::string::npos) << e.what();
  }
}

// The gold reward model learns the hidden rule from its labels (held-out rule-labelled pairs
// ordered right more than 80% of the time; chance is 50%), and is deterministic in its seed.
TEST(align_lm, the_gold_reward_model_learns_the_hidden_rule_deterministically) {
  set_num_threads(1);
  const align::corpus_env env(toy_corpus(), tiny_config().env());
  const auto cfg = tiny_config();
  const auto ref = align::pretrain_lm_reference(env, cfg.policy(), 3);
  auto g = align::train_gold_model(*ref, env, cfg, 3);
  EXPECT_GT(g.accuracy, 0.8) << "the gold reward model did not learn the rule";
  auto again = align::train_gold_model(*ref, env, cfg, 3);
  std::vector<align::token_seq> xs, ys;
  for (const auto& p : g.held_out) {
    xs.push_back(p.prompt.prompt);
    ys.push_back(p.chosen);
  }
  const auto a = g.rm->score(xs, ys, env.pad()), b = again.rm->score(xs, ys, env.pad());
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], b[i]) << "gold reward differs at pair " << i;
}

// Seeded end-to-end: the task's runner into a temporary store, with the toy corpus.
TEST(align_lm, best_of_n_against_a_proxy_beats_the_reference_on_gold_at_small_kl) {
  align::register_overopt_lm([](const align::lm_overopt_config&) { return toy_corpus(); });
  set_num_threads(1);
  // The proxy's backbone is the policy's shape; the [task] keys are tiny_task()'s and the run's own.
  const auto& t = tiny_task();
  std::string toml = "name = \"align_lm_e2e\"\nseeds = 1\n[model]\narch = \"gpt\"\nd_model = " +
                     t["policy_d_model"].dump() + "\nn_layers = " + t["policy_layers"].dump() +
                     "\nn_heads = " + t["policy_heads"].dump() + "\n[task]\nname = \"align_overopt_lm\"\n";
  for (const auto& [k, v] : t.items()) toml += k + " = " + v.dump() + "\n";
  const auto spec = lab::parse_spec(toml + R"(rm_pairs = 600
eval_pairs = 300
prompts = 16
pool = 64
bootstrap = 100
[train]
steps = 200
batch_size = 32
lr = 3e-3
)", "align_lm_e2e.toml");
  ASSERT_EQ(spec.runs.size(), 1u);
  const auto dir = std::filesystem::temp_directory_path() / ("lmlab_align_lm_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    store::results_store db(dir / "lmlab.db");
    const auto id = db.create_run("lab", "align_lm_e2e/x", spec.runs[0].config, 0);
    lab::run_config_once({spec.runs[0].config, spec.runs[0].seed, {}, &db, id, nullptr});
    std::map<std::string, double> m, ev;
    for (const auto& p : db.metrics(id)) m[p.name] = p.value;
    for (const auto& e : db.evaluations(id)) ev[e.metric + "@" + e.slice] = e.value;
    EXPECT_GT(m.at("gold_rm_accuracy"), 0.8);
    EXPECT_GT(m.at("rm_accuracy"), 0.6) << "the proxy did not learn the gold model's preferences";
    EXPECT_GT(m.at("gold_gain_small"), 0.0) << "gold at n = 4 did not exceed the reference's " << m.at("gold_ref");
    EXPECT_NEAR(ev.at("gold@n=4") - ev.at("gold@n=1"), m.at("gold_gain_small"), 1e-12);
    EXPECT_NEAR(ev.at("kl@n=64"), std::log(64.0) - 63.0 / 64.0, 1e-12);
    EXPECT_LE(ev.at("kl_sampled@n=64"), ev.at("kl@n=64") + 1e-9);  // the analytic value bounds it
    EXPECT_GT(ev.at("proxy@n=64"), ev.at("proxy@n=1"));
    EXPECT_TRUE(m.count("alpha") && m.count("beta_lo") && m.count("beta_hi"));
  }
  std::filesystem::remove_all(dir);
}
