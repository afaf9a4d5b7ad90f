// Test-time compute aggregation (datalab/ttc.hpp) against hand-computed values.
#include "datalab/ttc.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"

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
