// Speculative decoding: Leviathan et al. 2023 eq. (1), Theorem 3.8, Corollary 3.9, Theorem 3.11.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>

#include "core/error.hpp"
#include "plan/specdec.hpp"
#include "plan/tables.hpp"

using namespace lmlab::plan;

TEST(specdec, expected_tokens_eq1) {
  EXPECT_NEAR(specdec_expected_tokens(0.8, 3), (1 - std::pow(0.8, 4)) / 0.2, 1e-12);  // 2.952
  EXPECT_NEAR(specdec_expected_tokens(0.8, 3), 2.952, 1e-12);
  EXPECT_DOUBLE_EQ(specdec_expected_tokens(0.0, 5), 1.0);
  EXPECT_DOUBLE_EQ(specdec_expected_tokens(1.0, 5), 6.0);
  EXPECT_DOUBLE_EQ(specdec_expected_tokens(0.5, 0), 1.0);
}

TEST(specdec, speedup_theorem_3_8_and_corollary_3_9) {
  // gamma = 1 gives (1 + alpha) / (1 + c) (Corollary 3.9).
  EXPECT_NEAR(specdec_speedup(0.7, 1, 0.1), 1.7 / 1.1, 1e-12);
  EXPECT_NEAR(specdec_speedup(0.8, 4, 0.05), (1 - std::pow(0.8, 5)) / (0.2 * 1.2), 1e-12);
  // No gamma helps when alpha <= c.
  EXPECT_EQ(specdec_optimal_gamma(0.1, 0.2), 0);
  EXPECT_EQ(specdec_optimal_gamma(0.2, 0.2), 0);
  // Brute force over gamma for a grid of (alpha, c).
  for (double a : {0.5, 0.7, 0.8, 0.9, 0.95})
    for (double c : {0.01, 0.05, 0.2}) {
      const int g = specdec_optimal_gamma(a, c);
      for (int k = 1; k <= 64; ++k) EXPECT_LE(specdec_speedup(a, k, c), specdec_speedup(a, g, c) + 1e-12);
    }
  // alpha 0.8, c 0.05: gamma 7 -> 3.0823, 8 -> 3.0921, 9 -> 3.0780 (hand-computed).
  EXPECT_EQ(specdec_optimal_gamma(0.8, 0.05), 8);
  EXPECT_NEAR(specdec_speedup(0.8, 8, 0.05), 3.0921, 1e-4);
}

TEST(specdec, ops_factor_theorem_3_11) {
  EXPECT_NEAR(specdec_ops_factor(0.8, 3, 0.05), (3 * 0.05 + 3 + 1) / 2.952, 1e-12);
  EXPECT_DOUBLE_EQ(specdec_ops_factor(0.5, 0, 0.1), 1.0);
}

TEST(specdec, acceptance_mle_recovers_alpha) {
  std::mt19937_64 rng(7);
  std::bernoulli_distribution accept(0.73);
  std::vector<std::int64_t> log;
  for (int i = 0; i < 20000; ++i) {
    int n = 0;
    while (n < 5 && accept(rng)) ++n;
    log.push_back(n);
  }
  const auto e = estimate_acceptance(log, 5);
  EXPECT_NEAR(e.alpha, 0.73, 0.01);
  EXPECT_EQ(e.steps, 20000);
  // Exact small case: accepted {5, 2, 0} with gamma 5: 7 accepts, 2 rejections -> 7/9.
  EXPECT_NEAR(estimate_acceptance({5, 2, 0}, 5).alpha, 7.0 / 9.0, 1e-15);
}

TEST(specdec, log_errors_name_file_and_entry) {
  const std::string path = testing::TempDir() + "accept.log";
  std::ofstream(path) << "3 4\n2, x\n";
  try {
    read_accept_log(path);
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_EQ(std::string(e.what()), path + ":2: 'x' is not an integer");
  }
  try {
    estimate_acceptance({1, 9}, 4);
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_STREQ(e.what(), "--accept-log: entry 2 is 9, outside [0, 4]");
  }
  EXPECT_THROW(specdec_expected_tokens(1.5, 2), lmlab::error);
}

// Issue 12: a draft length past int's range was cast unchecked (UB) and then swept; now a
// clear error names the flag.
TEST(specdec, table_rejects_draft_lengths_that_do_not_fit) {
  auto message_of = [](const specdec_args& a) {
    try {
      specdec_table(a);
    } catch (const lmlab::error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  specdec_args a;
  a.gamma = "3000000000";
  EXPECT_NE(message_of(a).find("--gamma: 3000000000 is not a draft length"), std::string::npos) << message_of(a);
  specdec_args b;
  b.max_gamma = "1e30";
  EXPECT_NE(message_of(b).find("--max-gamma"), std::string::npos) << message_of(b);
  specdec_args ok;
  ok.gamma = "1-4+1";
  ok.alpha = "0.8";
  EXPECT_EQ(specdec_table(ok).rows().size(), 4u);  // four gammas x one alpha x one c
}
