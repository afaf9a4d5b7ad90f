// Test-time compute aggregation (datalab/ttc.hpp) against hand-computed values.
#include "datalab/ttc.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "autograd/autograd.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "datalab/runners.hpp"
#include "datalab/ttc_verifier.hpp"
#include "datalab_spec.hpp"
#include "lab/spec.hpp"
#include "models/lm.hpp"
#include "tasks/dataset.hpp"

namespace dl = lmlab::datalab;

TEST(ttc, pass_at_k_hand_values) {
  // n = 5, c = 2, k = 2: 1 − C(3,2)/C(5,2) = 1 − 3/10
  EXPECT_NEAR(dl::pass_at_k(5, 2, 2), 0.7, 1e-15);
  // k = 1 is the fraction correct
  EXPECT_NEAR(dl::pass_at_k(10, 3, 1), 0.3, 1e-15);
  // n = 10, c = 1, k = 5: 1 − C(9,5)/C(10,5) = 1 − 126/252
  EXPECT_NEAR(dl::pass_at_k(10, 1, 5), 0.5, 1e-15);
  // n = 200, c = 10, k = 100 (Codex's n): 1 − C(190,100)/C(200,100) = 1 − Π_{i=191..200}(1 − 100/i)
  double prod = 1;
  for (int i = 191; i <= 200; ++i) prod *= 1 - 100.0 / i;
  EXPECT_NEAR(dl::pass_at_k(200, 10, 100), 1 - prod, 1e-15);
  EXPECT_EQ(dl::pass_at_k(4, 0, 2), 0.0);
  EXPECT_EQ(dl::pass_at_k(4, 3, 2), 1.0);  // n − c < k: every pair has a correct sample
  EXPECT_THROW(dl::pass_at_k(4, 5, 1), lmlab::error);
  EXPECT_THROW(dl::pass_at_k(4, 1, 5), lmlab::error);
}

TEST(ttc, votes_by_hand) {
  // answers: 7 (wrong, score log 0.5) twice, 8 (right, score log 0.9) once, 9 (wrong) once
  const std::vector<dl::sampled_answer> s = {
      {"7", false, std::log(0.5)}, {"8", true, std::log(0.9)}, {"7", false, std::log(0.5)}, {"9", false, std::log(0.1)}};
  const std::vector<std::size_t> all = {0, 1, 2, 3};
  EXPECT_EQ(dl::vote(s, all, false), 0u);  // 7 wins the count 2:1:1
  // weighted: 7 → 1.0, 8 → 0.9, 9 → 0.1: still 7
  EXPECT_EQ(dl::vote(s, all, true), 0u);
  const std::vector<std::size_t> two = {1, 3};
  EXPECT_EQ(dl::vote(s, two, false), 1u);  // 1:1 tie goes to the heavier answer (8)
  EXPECT_EQ(dl::vote(s, two, true), 1u);
  lmlab::rng g(1);
  const auto a = dl::item_accuracy(s, 4, 10, g);
  EXPECT_DOUBLE_EQ(a.pass, 1.0);
  EXPECT_DOUBLE_EQ(a.majority, 0.0);
  EXPECT_DOUBLE_EQ(a.weighted, 0.0);
  EXPECT_DOUBLE_EQ(a.best_of, 1.0);  // the highest-score sample is the right one
  // k = 1: every method is the chance of drawing the right sample, 1/4; pass@1 exactly.
  const auto one = dl::item_accuracy(s, 1, 20000, g);
  EXPECT_DOUBLE_EQ(one.pass, 0.25);
  EXPECT_NEAR(one.majority, 0.25, 0.015);
  EXPECT_DOUBLE_EQ(one.majority, one.weighted);
  EXPECT_DOUBLE_EQ(one.majority, one.best_of);
}

TEST(ttc, learned_verifier_best_of_by_hand) {
  // Without verifier scores the learned method is absent (NaN).
  std::vector<dl::sampled_answer> s = {{"7", false, 0.0}, {"8", true, -1.0}, {"7", false, 0.0}, {"9", false, -2.0}};
  lmlab::rng g(2);
  EXPECT_TRUE(std::isnan(dl::item_accuracy(s, 4, 5, g).learned));
  // The verifier rates the right answer highest, the model's own log-probability does not.
  const double v[] = {0.1, 2.0, 0.3, -1.0};
  for (std::size_t i = 0; i < s.size(); ++i) s[i].verifier = v[i];
  const auto all = dl::item_accuracy(s, 4, 5, g);
  EXPECT_DOUBLE_EQ(all.learned, 1.0);
  EXPECT_DOUBLE_EQ(all.best_of, 0.0);  // log-probability picks sample 0 ("7", wrong)
  // k = 2 over 6 equally likely pairs: the right one is chosen whenever sample 1 is in the pair (3 of 6).
  const auto two = dl::item_accuracy(s, 2, 40000, g);
  EXPECT_NEAR(two.learned, 0.5, 0.01);
}

// ttc_chain's rules read these differences, paired within a run (ttc.hpp paired_differences).
TEST(ttc, paired_differences_by_hand) {
  std::map<std::size_t, dl::ttc_accuracy> at;
  at[1].pass = 0.5;
  at[2].learned = 0.7, at[2].majority = 0.6, at[2].learned_vote = 0.65;
  at[4].learned = 0.75, at[4].majority = 0.8, at[4].learned_vote = 0.9;
  const auto value = [](const std::vector<std::pair<std::string, double>>& m, const std::string& name) -> double {
    for (const auto& [k, v] : m)
      if (k == name) return v;
    ADD_FAILURE() << "no " << name;
    return NAN;
  };
  const auto two = dl::paired_differences(at, 2);
  ASSERT_EQ(two.size(), 4u);
  EXPECT_NEAR(value(two, "learned_gain"), 0.2, 1e-12);            // 0.7 − pass@1 0.5
  EXPECT_NEAR(value(two, "learned_minus_majority"), 0.1, 1e-12);  // 0.7 − 0.6
  EXPECT_NEAR(value(two, "vote_minus_majority"), 0.05, 1e-12);    // 0.65 − 0.6
  EXPECT_NEAR(value(two, "learned_minus_majority_equal_flops"), -0.1, 1e-12);  // 0.7 − majority@4 0.8
  const auto four = dl::paired_differences(at, 4);
  ASSERT_EQ(four.size(), 3u);  // no majority@8: no equal-FLOPs difference
  EXPECT_NEAR(value(four, "learned_gain"), 0.25, 1e-12);
  EXPECT_NEAR(value(four, "learned_minus_majority"), -0.05, 1e-12);
  EXPECT_NEAR(value(four, "vote_minus_majority"), 0.1, 1e-12);
  EXPECT_THROW(dl::paired_differences(at, 8), lmlab::error);
  at.erase(1);
  EXPECT_THROW(dl::paired_differences(at, 2), lmlab::error);  // no pass@1

  // From samples, at k = n (one subset: exact). Item A: "8" is right and rated highest, "7" is
  // the majority. Item B: "5" is right and the majority, the verifier rates a wrong "6" highest,
  // and σ(3) = 0.953 outweighs σ(−0.5) + σ(−0.2) = 0.828, so the weighted vote is wrong too.
  const std::vector<std::vector<dl::sampled_answer>> items = {
      {{"7", false, 0, 0.1}, {"8", true, 0, 2.0}, {"7", false, 0, 0.3}, {"9", false, 0, -1.0}},
      {{"5", true, 0, -0.5}, {"6", false, 0, 3.0}, {"5", true, 0, -0.2}, {"4", false, 0, -3.0}}};
  lmlab::rng g(3);
  std::map<std::size_t, dl::ttc_accuracy> run;
  for (std::size_t k : {1, 4}) run[k] = dl::mean_item_accuracy(items.size(), [&](std::size_t i) -> const auto& { return items[i]; }, static_cast<std::int64_t>(k), 50, g);
  EXPECT_DOUBLE_EQ(run[1].pass, 0.375);  // (1/4 + 2/4) / 2
  const auto m = dl::paired_differences(run, 4);
  EXPECT_NEAR(value(m, "learned_gain"), 0.5 - 0.375, 1e-12);        // best-of-4 (1 + 0) / 2
  EXPECT_NEAR(value(m, "learned_minus_majority"), 0.5 - 0.5, 1e-12);  // majority@4 (0 + 1) / 2
  EXPECT_NEAR(value(m, "vote_minus_majority"), 0.0 - 0.5, 1e-12);     // weighted vote (0 + 0) / 2
}

// Ranking quality (datalab/ttc_verifier.hpp) by hand.
TEST(ttc_verifier, auc_by_hand) {
  // right {3, 1}, wrong {2, 1}: (3,2) win, (3,1) win, (1,2) loss, (1,1) tie -> 2.5 / 4
  EXPECT_DOUBLE_EQ(dl::auc({3, 1}, {2, 1}), 0.625);
  EXPECT_DOUBLE_EQ(dl::auc({1}, {0}), 1.0);
  EXPECT_TRUE(std::isnan(dl::auc({}, {1})));
}

TEST(ttc_verifier, pooled_ranking_can_hide_a_reversed_within_item_ranking) {
  // Item A ranks its right sample first, item B ranks it last, item D ties: a score that
  // separates items (A's samples high) looks good pooled but is at chance within items.
  const std::vector<std::vector<double>> sc = {{0.9, 0.1}, {0.2, 0.5, 0.5}, {0.3, 0.3}, {0.7}};
  const std::vector<std::vector<bool>> ok = {{true, false}, {true, false, false}, {true, false}, {true}};
  const std::vector<std::vector<std::int64_t>> len = {{2, 2}, {2, 1, 2}, {1, 1}, {3}};
  const auto q = dl::ranking_of(sc, ok, len);
  EXPECT_EQ(q.mixed_items, 3);  // the all-right item counts only in the pooled AUC
  EXPECT_DOUBLE_EQ(q.within, (1.0 + 0.0 + 0.5) / 3);
  // pooled: right {0.9, 0.2, 0.3, 0.7} against wrong {0.1, 0.5, 0.5, 0.3}:
  // 0.9 beats 4, 0.2 beats 1, 0.3 beats 1 and ties 1, 0.7 beats 4 -> 10.5 / 16
  EXPECT_DOUBLE_EQ(q.pooled, 10.5 / 16);
  EXPECT_DOUBLE_EQ(q.ties, 1.0 / 4);  // pairs: A 1, B 2, D 1; one tie
  // same-length pairs: A (win), B's right with its second wrong (loss), D (tie) -> 1.5 / 3
  EXPECT_DOUBLE_EQ(q.within_same_length, 0.5);
  EXPECT_THROW(dl::ranking_of(sc, ok, {{2, 2}}), lmlab::error);
}

namespace {

// Prompt {5, 6}; gold 7 8 <eos=2>; answers right, wrong in the second token, stopped early.
dl::item_samples three_answers() {
  dl::item_samples it;
  it.prompt = {5, 6};
  it.gold = {7, 8, 2};
  it.answers = {{7, 8, 2}, {7, 9, 2}, {7, 2}};
  it.s = {{"7 8 2", true, 0.0}, {"7 9 2", false, 0.0}, {"7 2", false, 0.0}};
  it.tokens = 5;
  return it;
}

}  // namespace

TEST(ttc_verifier, training_labels_by_hand) {
  const auto it = three_answers();
  const std::int32_t Y = 1, N = 0, I = lmlab::tasks::ignore_index;
  dl::verifier_setup v;
  v.yes = Y, v.no = N;
  double share = 0;
  v.kind = "outcome";  // one label after the answer
  auto d = dl::verifier_examples({it}, v, &share);
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].input, (std::vector<std::int32_t>{5, 6, 7, 8, 2}));
  EXPECT_EQ(d[0].target, (std::vector<std::int32_t>{I, I, I, I, Y}));
  EXPECT_EQ(d[1].target, (std::vector<std::int32_t>{I, I, I, I, N}));
  EXPECT_EQ(d[2].target, (std::vector<std::int32_t>{I, I, I, N}));
  EXPECT_DOUBLE_EQ(share, 1.0 / 3);
  v.kind = "process_gen";  // a label after every answer token: still a prefix of the gold answer?
  d = dl::verifier_examples({it}, v);
  EXPECT_EQ(d[0].target, (std::vector<std::int32_t>{I, I, Y, Y, Y}));
  EXPECT_EQ(d[1].target, (std::vector<std::int32_t>{I, I, Y, N, N}));
  EXPECT_EQ(d[2].target, (std::vector<std::int32_t>{I, I, Y, N}));
  v.kind = "outcome_balanced";  // one right, so one wrong (the first)
  d = dl::verifier_examples({it}, v, &share);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[1].input, (std::vector<std::int32_t>{5, 6, 7, 9, 2}));
  EXPECT_DOUBLE_EQ(share, 0.5);
  auto all_right = it;
  for (auto& x : all_right.s) x.correct = true;
  EXPECT_TRUE(dl::verifier_examples({all_right}, v).empty());  // no item with both kinds
  v.kind = "nope";
  EXPECT_THROW(dl::verifier_examples({it}, v), lmlab::error);
}

// Regression test for the alignment of scores with samples: in a padded batch every sample's
// score is the logit difference at its own last answer token (outcome) or the minimum over its
// answer tokens (process), exactly as when it is scored alone.
TEST(ttc_verifier, scores_align_with_samples_in_a_padded_batch) {
  lmlab::models::lm_config mc;
  mc.vocab_size = 12, mc.d_model = 16, mc.n_layers = 1, mc.n_heads = 2, mc.n_ctx = 8;
  for (const std::string kind : {"outcome", "process_gen"}) {
    dl::learned_verifier v;
    v.model = lmlab::models::make_model(mc, 3);
    v.model->eval();
    v.setup.kind = kind, v.setup.yes = 1, v.setup.no = 0, v.setup.pad = 11;
    const auto it = three_answers();
    const auto batched = dl::verifier_scores(v, it);
    ASSERT_EQ(batched.size(), 3u);
    for (std::size_t j = 0; j < 3; ++j) {
      auto one = it;
      one.answers = {it.answers[j]};
      one.s = {it.s[j]};
      EXPECT_NEAR(dl::verifier_scores(v, one)[0], batched[j], 1e-5) << kind << " sample " << j;
      // By hand: the logits of the sample alone.
      std::vector<std::int32_t> seq = it.prompt;
      seq.insert(seq.end(), it.answers[j].begin(), it.answers[j].end());
      const auto T = static_cast<std::int64_t>(seq.size());
      lmlab::no_grad ng;
      const auto logits = v.model->forward(lmlab::tensor::from<std::int32_t>({1, T}, std::span<const std::int32_t>(seq))).contiguous_raw();
      const float* l = logits.data<float>();
      double want = INFINITY;
      for (std::int64_t t = kind == "outcome" ? T - 1 : 2; t < T; ++t) want = std::min(want, double(l[t * 12 + 1]) - double(l[t * 12 + 0]));
      EXPECT_NEAR(batched[j], want, 1e-5) << kind << " sample " << j;
    }
  }
}

// The *_gen verifiers start from the generator's weights: with a zero learning rate one step
// leaves them equal to it; without `init` they differ (fresh initialisation from another seed).
TEST(ttc_verifier, training_can_start_from_another_models_weights) {
  lmlab::models::lm_config mc;
  mc.vocab_size = 12, mc.d_model = 16, mc.n_layers = 1, mc.n_heads = 2, mc.n_ctx = 8;
  const auto gen = lmlab::models::make_model(mc, 7);
  lmlab::train::optim_config oc;
  oc.lr = 0, oc.min_lr = 0, oc.weight_decay = 0, oc.batch_size = 2;
  const std::vector<dl::token_example> data = {dl::next_token_example({1, 2, 3, 4}, 1)};
  const auto from = dl::train_on_examples(mc, data, oc, 1, 0, 99, nullptr, gen.get());
  const auto fresh = dl::train_on_examples(mc, data, oc, 1, 0, 99);
  const auto w = gen->parameter("wte.weight").values<float>();
  EXPECT_EQ(from->parameter("wte.weight").values<float>(), w);
  EXPECT_NE(fresh->parameter("wte.weight").values<float>(), w);
}

TEST(ttc_verifier, uninformed_pick_and_verifier_vote_by_hand) {
  // "8" is right and the most frequent (2 of 4); "7" and "9" are wrong. One sample's chance is
  // 1/2, but a score that is random per distinct answer picks "8" with probability 1/3.
  std::vector<dl::sampled_answer> s = {{"8", true, 0.0}, {"7", false, 0.0}, {"8", true, 0.0}, {"9", false, 0.0}};
  lmlab::rng g(5);
  auto a = dl::item_accuracy(s, 4, 3, g);
  EXPECT_DOUBLE_EQ(a.uninformed, 1.0 / 3);
  EXPECT_TRUE(std::isnan(a.learned_vote));
  // k = 2 over the 6 pairs: {8,8} 1, {8,7} ×2 1/2, {8,9} ×2 1/2, {7,9} 0 -> (1 + 4·½) / 6 = 1/2
  EXPECT_NEAR(dl::item_accuracy(s, 2, 60000, g).uninformed, 0.5, 0.01);
  // Verifier scores: "9" alone is rated highest (σ(2) = 0.881) but "8" sums σ(1) + σ(0.5) =
  // 0.731 + 0.622 = 1.353: best-of-4 is wrong, the verifier-weighted vote right.
  const double v[] = {1.0, -3.0, 0.5, 2.0};
  for (std::size_t i = 0; i < s.size(); ++i) s[i].verifier = v[i];
  a = dl::item_accuracy(s, 4, 3, g);
  EXPECT_DOUBLE_EQ(a.learned, 0.0);
  EXPECT_DOUBLE_EQ(a.learned_vote, 1.0);
  EXPECT_EQ(dl::verifier_vote(s, {1, 3}), 3u);  // σ(2) > σ(−3)
  s[3].verifier = 3.0;                          // σ(3) = 0.953 < 1.353: still "8"
  EXPECT_EQ(dl::verifier_vote(s, {0, 1, 2, 3}), 0u);
  s[3].verifier = 10.0;  // a single "9" cannot outweigh two "8"s beyond σ = 1... 1.0 < 1.353
  EXPECT_EQ(dl::verifier_vote(s, {0, 1, 2, 3}), 0u);
}

// ttc_arithmetic's schema is one param_table (the arithmetic task's keys and its own) through
// task_from_table; the verifier keys are written only when a verifier trains. Its canonical form,
// and so every run id, is what it was before: the ids of stop 15's main job (quick size).
TEST(ttc, ttc_arithmetic_run_ids_are_unchanged) {
  lmlab::datalab::register_datalab();
  auto ids = [](const std::string& file) {
    const std::string text = lmlab::read_text_file(file);
    std::set<std::string> out;
    for (const auto& r : lmlab::lab::load_spec(file, lmlab::lab::size_overrides(text, file, "quick")).runs) out.insert(r.id);
    return out;
  };
  EXPECT_EQ(ids("experiments/ttc_arith.toml"), (std::set<std::string>{"66df80edb8e36cbc", "6ddc393daa8757e6", "d85d96f868e0bba3"}));
  EXPECT_EQ(ids("experiments/ttc_verifier.toml"), (std::set<std::string>{"648b646d25c125dc", "90c9e30f495cad30", "fcdfe53af16065ee"}));
  const std::string head = "name = \"t\"\n[train]\nsteps = 10\n[task]\nname = \"ttc_arithmetic\"\n";
  EXPECT_NE(lmlab::testing::datalab_spec_error(head + "verifiers = []\nverifier_steps = 5\n", "t.toml").find("non-empty list of distinct"),
            std::string::npos);
  EXPECT_NE(lmlab::testing::datalab_spec_error(head + "verifiers = [\"outcome\", \"outcome\"]\n", "t.toml").find("verifiers"),
            std::string::npos);
  EXPECT_NE(lmlab::testing::datalab_spec_error(head + "n_samples = 0\n", "t.toml").find("n_samples"), std::string::npos);
  EXPECT_NE(lmlab::testing::datalab_spec_error(head + "min_digits = 4\n", "t.toml").find("min_digits"), std::string::npos);
  EXPECT_EQ(lmlab::testing::datalab_spec_error(head + "verifier_steps = 5\nverifier_lr = 1e-4\n", "t.toml"), "(no error)");
}
