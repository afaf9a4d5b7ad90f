// Outcome vs process supervision (src/align/chain.hpp): the chain task's solver labels on hand
// cases, the reference data's labels, the binary cross-entropy over positions against hand
// values and finite differences in double, the PRM/ORM scores, and majority voting.
#include <gtest/gtest.h>

#include <cmath>

#include "align/chain.hpp"
#include "autograd/autograd.hpp"
#include "autograd/gradcheck.hpp"
#include "ops/ops.hpp"

using namespace lmlab;
using namespace lmlab::align;

namespace {
token_seq ids(const chain_env& env, std::initializer_list<const char*> toks) {
  token_seq out;
  for (const char* t : toks) out.push_back(env.vocab().id(t));
  return out;
}
chain_item item_of(const chain_env& env, std::vector<std::int64_t> x) {
  for (rng r(0);;) {
    chain_item it = env.draw(r);
    if (it.x == x) return it;
  }
}
}  // namespace

TEST(align_chain, solver_labels_hand_cases) {
  chain_env env({4, 0.15});
  const chain_item it = item_of(env, {3, 5, 8, 2});  // 8 ; 16 ; 18
  EXPECT_EQ(env.vocab().decode(it.prompt), "<bos> 3 + 5 + 8 + 2 =");
  const chain_labels good = env.label(it, ids(env, {"8", ";", "1", "6", ";", "1", "8", "<eos>"}));
  EXPECT_TRUE(good.well_formed && good.correct && good.process_ok());
  EXPECT_EQ(good.step_end, (std::vector<std::int64_t>{1, 4, 7}));
  // A slip in step 2, carried on correctly: steps 1 and 3 right, the answer wrong.
  const chain_labels slip = env.label(it, ids(env, {"8", ";", "1", "7", ";", "1", "9", "<eos>"}));
  EXPECT_EQ(slip.step_ok, (std::vector<bool>{true, false, true}));
  EXPECT_TRUE(slip.well_formed && !slip.correct);
  // Two slips that cancel: the right answer with wrong steps (what outcome labels cannot see).
  const chain_labels lucky = env.label(it, ids(env, {"9", ";", "1", "7", ";", "1", "8", "<eos>"}));
  EXPECT_EQ(lucky.step_ok, (std::vector<bool>{false, true, false}));
  EXPECT_TRUE(lucky.correct && !lucky.process_ok());
  // Stopping early, running on, junk, no <eos>.
  const chain_labels early = env.label(it, ids(env, {"8", ";", "1", "6", "<eos>"}));
  EXPECT_EQ(early.step_ok, (std::vector<bool>{true, false}));
  EXPECT_FALSE(early.well_formed);
  const chain_labels longer = env.label(it, ids(env, {"8", ";", "1", "6", ";", "1", "8", ";", "1", "8", "<eos>"}));
  EXPECT_EQ(longer.step_ok, (std::vector<bool>{true, true, false, false}));
  EXPECT_FALSE(longer.correct);
  const chain_labels junk = env.label(it, ids(env, {"8", ";", "+", ";", "1", "8", "<eos>"}));
  EXPECT_EQ(junk.step_ok, (std::vector<bool>{true, false, false}));
  EXPECT_FALSE(junk.well_formed);
  const chain_labels cut = env.label(it, ids(env, {"8", ";", "1", "6", ";", "1", "8"}));
  EXPECT_FALSE(cut.well_formed);
  EXPECT_FALSE(cut.step_ok.back());
  EXPECT_EQ(cut.step_end.back(), 6);
}

TEST(align_chain, reference_data_is_labelled_by_its_slips) {
  chain_env clean({5, 0.0}), slips({5, 0.3});
  rng r(4);
  int wrong = 0;
  for (int i = 0; i < 300; ++i) {
    const chain_item it = clean.draw(r);
    const chain_labels l = clean.label(it, clean.pretraining_response(it, r));
    EXPECT_TRUE(l.correct && l.process_ok());
    const chain_item it2 = slips.draw(r);
    const chain_labels l2 = slips.label(it2, slips.pretraining_response(it2, r));
    EXPECT_TRUE(l2.well_formed);
    wrong += !l2.process_ok();
  }
  // P(some step of 4 slips) = 1 - 0.7^4 = 0.76
  EXPECT_NEAR(wrong / 300.0, 0.76, 0.08);
}

TEST(align_chain, positions_bce_matches_hand_values_and_finite_differences) {
  tensor s = tensor::from<double>({2, 2}, std::span<const double>(std::vector<double>{1.0, -2.0, 0.5, 3.0}));
  s.set_requires_grad(true);
  // positions 0 (label 1) and 3 (label 0): (softplus(-1) + softplus(3)) / 2
  tensor loss = positions_bce(s, {0, 3}, {1, 0});
  EXPECT_NEAR(loss.item(), (0.31326168751822286 + 3.048587351573742) / 2, 1e-12);
  backward(loss);
  const auto g = s.grad().to_vector();
  // d/ds = (sigmoid(s) - y) / M
  EXPECT_NEAR(g[0], (1 / (1 + std::exp(-1.0)) - 1) / 2, 1e-12);
  EXPECT_NEAR(g[3], (1 / (1 + std::exp(-3.0))) / 2, 1e-12);
  EXPECT_EQ(g[1], 0.0);
  const auto r = gradcheck([](const std::vector<tensor>& x) { return positions_bce(x[0], {0, 1, 3, 3}, {1, 0, 0, 1}); },
                           {tensor::from<double>({2, 2}, std::span<const double>(std::vector<double>{0.3, -1.2, 2.5, 0.1}))});
  EXPECT_TRUE(r.ok) << r.report;
  EXPECT_THROW(positions_bce(s, {0, 4}, {1, 0}), lmlab::error);
}

TEST(align_chain, process_score_is_the_sum_of_step_log_sigmoids_and_outcome_the_last_logit) {
  chain_env env({3, 0.1});
  reward_model rm(nlohmann::json{{"d_model", 8}, {"n_layers", 1}, {"n_heads", 2}}, env.vocab().size(),
                  env.n_ctx(), 7);
  const chain_item it = item_of(env, {1, 2, 3});
  const std::vector<token_seq> ps{it.prompt, it.prompt};
  const std::vector<token_seq> rs{ids(env, {"3", ";", "6", "<eos>"}), ids(env, {"4", "<eos>"})};
  const auto outcome = chain_scores(rm, env, ps, rs, "outcome");
  const auto process = chain_scores(rm, env, ps, rs, "process");
  no_grad ng;
  const packed_batch pb = pack(ps, rs, env.pad(), true);
  const auto all = rm.forward_all(pb).to_vector();
  const std::size_t P = it.prompt.size(), T = static_cast<std::size_t>(pb.T);
  auto logsig = [](double x) { return -std::log1p(std::exp(-x)); };
  EXPECT_NEAR(outcome[0], all[P + 3], 1e-6);
  EXPECT_NEAR(outcome[1], all[T + P + 1], 1e-6);
  EXPECT_NEAR(process[0], logsig(all[P + 1]) + logsig(all[P + 3]), 1e-6);
  EXPECT_NEAR(process[1], logsig(all[T + P + 1]), 1e-6);
  // forward_all at the last token is the reward model's forward
  const auto last = rm.forward(pb).to_vector();
  EXPECT_NEAR(last[0], all[P + 3], 1e-6);
}

TEST(align_chain, majority_vote_hand_cases) {
  rng r(1);
  // answers 5 (right) x2, 7 (wrong) x1, malformed x1.
  // The correctness vectors are filled at run time: GCC 12.2 with -O2/-O3 and AVX-512
  // (-march=native on this VM) compiles the constant initialiser {1.0, 1.0, 0.0, 0.0} of a
  // std::vector<double> into a broadcast of 1.0 to all four elements (checked on the assembly).
  const std::vector<std::int64_t> answers{5, 5, 7, -1}, two{5, 7};
  std::vector<double> correct, two_correct;
  for (const auto a : answers) correct.push_back(a == 5 ? 1.0 : 0.0);
  for (const auto a : two) two_correct.push_back(a == 5 ? 1.0 : 0.0);
  // with all 4, 5 wins
  const double all = majority_vote_accuracy(answers, correct, 4, 10, r);
  EXPECT_DOUBLE_EQ(all, 1.0);
  // n = 1: a uniform sample is right with probability 2/4
  const double one = majority_vote_accuracy(answers, correct, 1, 20000, r);
  EXPECT_NEAR(one, 0.5, 0.02);
  // n = 3: right unless the subset is {5, 7, -1} (2 of 4 subsets) and then a 1-1 tie: 1/2 + 1/2 * 1/2
  const double three = majority_vote_accuracy(answers, correct, 3, 20000, r);
  EXPECT_NEAR(three, 0.75, 0.02);
  // a 1-1 tie is broken uniformly
  const double tie = majority_vote_accuracy(two, two_correct, 2, 5, r);
  EXPECT_DOUBLE_EQ(tie, 0.5);
}

// The training loop can learn a label that is trivially readable at the scored position: the
// outcome "label" is whether the first response token is "1", the process labels whether each
// step's first token is "1". If the loop, the positions or the scoring were misaligned, the
// held-out AUC would stay near 0.5.
TEST(align_chain, reward_model_training_learns_a_readable_label) {
  chain_env env({3, 0.0});
  rng r(2);
  std::vector<chain_item> items;
  std::vector<token_seq> responses;
  std::vector<chain_labels> outcome_labels, process_labels;
  const std::int32_t one = env.vocab().id("1"), sep = env.vocab().id(";");
  for (int i = 0; i < 600; ++i) {
    items.push_back(env.draw(r));
    responses.push_back(env.pretraining_response(items.back(), r));
    chain_labels l = env.label(items.back(), responses.back());
    chain_labels o = l;
    o.correct = responses.back()[0] == one;
    outcome_labels.push_back(o);
    std::size_t start = 0;
    for (std::size_t k = 0; k < l.step_ok.size(); ++k) {
      l.step_ok[k] = responses.back()[start] == one;
      start = static_cast<std::size_t>(l.step_end[k]) + 1;
    }
    process_labels.push_back(l);
  }
  (void)sep;
  for (const std::string sup : {"outcome", "process"}) {
    reward_model rm(nlohmann::json{{"d_model", 16}, {"n_layers", 1}, {"n_heads", 2}}, env.vocab().size(), env.n_ctx(), 5);
    chain_rm_train tc;
    tc.steps = 150;
    const auto& labels = sup == "outcome" ? outcome_labels : process_labels;
    const auto losses = train_chain_rm(rm, env, items, responses, labels, sup, tc, 1);
    EXPECT_LT(losses.back(), 0.2) << sup;
    // held-out: the first 400 are seen; score the rest
    std::vector<token_seq> ps, rs;
    for (std::size_t i = 0; i < items.size(); ++i) {
      ps.push_back(items[i].prompt);
      rs.push_back(responses[i]);
    }
    const auto sc = chain_scores(rm, env, ps, rs, sup);
    double wins = 0, pairs = 0;
    for (std::size_t i = 0; i < sc.size(); ++i)
      for (std::size_t j = 0; j < sc.size(); ++j) {
        const bool gi = sup == "outcome" ? outcome_labels[i].correct : process_labels[i].process_ok();
        const bool gj = sup == "outcome" ? outcome_labels[j].correct : process_labels[j].process_ok();
        if (gi && !gj) wins += sc[i] > sc[j] ? 1.0 : 0.0, pairs += 1;
      }
    EXPECT_GT(wins / pairs, 0.9) << sup;
  }
}

TEST(align_chain, read_positions_at_the_separator_or_the_last_digit) {
  chain_env env({4, 0.15});
  const token_seq y = ids(env, {"8", ";", "1", "6", ";", ";", "1", "8", "<eos>"});
  // separator: the step end itself
  for (const std::int64_t e : {1, 4, 5, 8}) EXPECT_EQ(chain_read_position(env, y, e, "separator"), e);
  // last_digit: the token before a ";" or <eos> that follows a step's token; an empty step
  // (";" after ";") and a non-boundary end (a cut response's last digit) stay where they are
  EXPECT_EQ(chain_read_position(env, y, 1, "last_digit"), 0);
  EXPECT_EQ(chain_read_position(env, y, 4, "last_digit"), 3);
  EXPECT_EQ(chain_read_position(env, y, 5, "last_digit"), 5);
  EXPECT_EQ(chain_read_position(env, y, 8, "last_digit"), 7);
  EXPECT_EQ(chain_read_position(env, y, 7, "last_digit"), 7);
  const token_seq first = ids(env, {";", "1", "<eos>"});
  EXPECT_EQ(chain_read_position(env, first, 0, "last_digit"), 0);  // nothing before the response's first token
  EXPECT_THROW(chain_read_position(env, y, 9, "last_digit"), lmlab::error);
  EXPECT_THROW(chain_read_position(env, y, 1, "middle"), lmlab::error);
}
