// The rank-one edit (knowledge/rome.hpp) on a tiny model where its effect is exactly
// computable: with C the second moment of a set of keys of full column rank, the edited
// output for the subject's key is v* and every other key of the set maps as before, so an
// unrelated input's logits are unchanged within float tolerance while the target fact's change.
// A negative control (C = I, a plain minimum-norm update) shows the test can fail.
#include "knowledge/rome.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "autograd/autograd.hpp"
#include "hooks/hooks.hpp"
#include "knowledge/kb.hpp"
#include "../lm_test_config.hpp"

using namespace lmlab;
using namespace lmlab::knowledge;

namespace {

std::unique_ptr<models::lm> tiny_model() {
  models::lm_config c = lmlab::testing::small_lm(12, 8, 2, 2, 8);
  c.d_mlp = 32;
  c.init_std = 0.3;
  auto m = models::make_model(c, 11);
  m->eval();
  return m;
}

tasks::example fact_example(const std::vector<std::int32_t>& ids, std::int32_t answer) {
  tasks::example e;
  e.input = ids;
  e.target.assign(ids.size(), tasks::ignore_index);
  e.target.back() = answer;  // predicted at the subject's (last) position
  return e;
}

std::vector<double> logits_of(models::lm& m, const std::vector<std::int32_t>& ids) {
  no_grad ng;
  return m.forward(tensor::from<std::int32_t>({1, static_cast<std::int64_t>(ids.size())}, std::span<const std::int32_t>(ids)))
      .to_vector();
}

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

std::int64_t argmax_last(const std::vector<double>& logits, std::int64_t V) {
  const auto* row = logits.data() + logits.size() - static_cast<std::size_t>(V);
  return std::max_element(row, row + V) - row;
}

}  // namespace

TEST(knowledge_rome, solve_spd_matches_a_known_system) {
  // A = [[4, 2], [2, 3]], b = [2, 1] -> x = [0.5, 0]; with ridge 1: [[5,2],[2,4]] x = b -> [0.375, 0.0625].
  const auto x = solve_spd({4, 2, 2, 3}, 2, {2, 1}, 0.0);
  EXPECT_NEAR(x[0], 0.5, 1e-12);
  EXPECT_NEAR(x[1], 0.0, 1e-12);
  const auto y = solve_spd({4, 2, 2, 3}, 2, {2, 1}, 1.0);
  EXPECT_NEAR(y[0], 0.375, 1e-12);
  EXPECT_NEAR(y[1], 0.0625, 1e-12);
  EXPECT_THROW(solve_spd({1, 2, 2, 1}, 2, {1, 1}, 0.0), lmlab::error);  // indefinite
}

TEST(knowledge_rome, edit_changes_the_fact_and_leaves_an_unrelated_input_unchanged) {
  auto m = tiny_model();
  const std::int64_t layer = 1;
  const std::vector<std::int32_t> fact = {1, 2, 3}, other = {5, 6, 8, 9};
  const auto before_fact = logits_of(*m, fact), before_other = logits_of(*m, other);
  // The new answer: the unedited model's third choice (a real change; in 8 dimensions under
  // the final norm not every token can be made the argmax, the model's runners-up can).
  const auto* row = before_fact.data() + 2 * 12;
  std::vector<std::int32_t> order(12);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](auto a, auto b) { return row[a] > row[b]; });
  const std::int32_t target = order[2];
  const auto ex = fact_example(fact, target);
  const auto C = key_second_moment(*m, layer, {fact_example(fact, 0), fact_example(other, 0)}, 0);
  const mlp_io io = mlp_at(*m, layer, fact, 2);
  const value_fit vf = optimize_value(*m, layer, ex, 2, {200, 0.1, 1e-4, 0.99});
  EXPECT_LT(vf.prob_before, 0.3);
  EXPECT_GT(vf.prob_after, 0.5);  // under the final norm p saturates near 0.56 for this token
  const auto saved = apply_rank_one(*m, layer, C, 1e-9, io.key, vf.delta);
  // The subject's MLP output is now v* = W k* + b + δ.
  const mlp_io after = mlp_at(*m, layer, fact, 2);
  double scale = 0;
  for (auto d : vf.delta) scale = std::max(scale, std::abs(d));
  for (std::size_t i = 0; i < after.out.size(); ++i) EXPECT_NEAR(after.out[i], io.out[i] + vf.delta[i], 1e-4 * (1 + scale));
  // The fact's answer changed to the target; the unrelated input's logits did not.
  const auto after_fact = logits_of(*m, fact), after_other = logits_of(*m, other);
  EXPECT_EQ(argmax_last(after_fact, 12), target);
  EXPECT_GT(max_abs_diff(before_fact, after_fact), 1.0);
  EXPECT_LT(max_abs_diff(before_other, after_other), 1e-3);
  // Restoring gives back the model bit for bit.
  restore_weight(*m, layer, saved);
  EXPECT_EQ(logits_of(*m, other), before_other);
  EXPECT_EQ(logits_of(*m, fact), before_fact);
  // Negative control: without the key statistics (C = I) the same edit moves the unrelated
  // input's logits, so the check above can fail.
  std::vector<double> I(C.size(), 0.0);
  const std::size_t M = io.key.size();
  for (std::size_t i = 0; i < M; ++i) I[i * M + i] = 1.0;
  apply_rank_one(*m, layer, I, 0.0, io.key, vf.delta);
  EXPECT_GT(max_abs_diff(before_other, logits_of(*m, other)), 1e-2);
}

// k* averaged over two contexts, as the editing runner does: the averaged key maps to v*
// exactly, and the question's own key receives gain·delta, gain = edit_gain (computed here
// in closed form, then checked against the edited model's MLP output).
TEST(knowledge_rome, an_averaged_key_maps_to_v_star_and_the_question_gets_edit_gain_of_it) {
  auto m = tiny_model();
  const std::int64_t layer = 1;
  const std::vector<std::int32_t> question = {1, 2, 3}, bare = {4, 3}, other = {5, 6, 8, 9};
  const auto C = key_second_moment(*m, layer, {fact_example(question, 0), fact_example(bare, 0), fact_example(other, 0)}, 0);
  const mlp_io q = mlp_at(*m, layer, question, 2), b = mlp_at(*m, layer, bare, 1);
  std::vector<double> k_star(q.key.size()), delta(q.out.size());
  for (std::size_t i = 0; i < k_star.size(); ++i) k_star[i] = 0.5 * (q.key[i] + b.key[i]);
  for (std::size_t i = 0; i < delta.size(); ++i) delta[i] = 0.3 * static_cast<double>(i % 3) - 0.2;  // any v* - (W k* + b)
  EXPECT_NEAR(edit_gain(C, 1e-6, k_star, k_star), 1.0, 1e-12);
  const double gain = edit_gain(C, 1e-6, k_star, q.key);
  apply_rank_one(*m, layer, C, 1e-6, k_star, delta);
  // The MLP is affine in the key after the nonlinearity, so the question's output moves by gain·delta.
  const mlp_io q_after = mlp_at(*m, layer, question, 2), b_after = mlp_at(*m, layer, bare, 1);
  const double gain_b = edit_gain(C, 1e-6, k_star, b.key);
  EXPECT_NEAR(0.5 * (gain + gain_b), 1.0, 1e-9);  // linear in the key: the two halves average to 1
  for (std::size_t i = 0; i < delta.size(); ++i) {
    EXPECT_NEAR(q_after.out[i], q.out[i] + gain * delta[i], 1e-4) << i;
    EXPECT_NEAR(b_after.out[i], b.out[i] + gain_b * delta[i], 1e-4) << i;
  }
}

TEST(knowledge_rome, errors_name_the_problem) {
  auto m = tiny_model();
  EXPECT_THROW(mlp_at(*m, 5, {1, 2}, 1), lmlab::error);
  EXPECT_THROW(apply_rank_one(*m, 0, {1.0}, 0.0, {1.0}, {1.0}), lmlab::error);
}
