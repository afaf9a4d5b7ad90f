// RL against best-of-n on the same proxy (align/rl_compare.hpp): interpolation and the
// comparison at RL's peak on hand values, and bad curves as errors.
#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "align/rl_compare.hpp"

using namespace lmlab::align;

TEST(align_rl_compare, gain_at_interpolates_linearly_in_d) {
  const std::vector<double> d{0, 0.44, 0.8}, g{0, 0.2, 0.3};
  EXPECT_DOUBLE_EQ(gain_at(d, g, 0), 0);
  EXPECT_DOUBLE_EQ(gain_at(d, g, 0.22), 0.1);
  EXPECT_NEAR(gain_at(d, g, 0.5), 0.2 + 0.06 / 0.36 * 0.1, 1e-12);
  EXPECT_DOUBLE_EQ(gain_at(d, g, 2.0), 0.3);  // beyond the last point: the last gain
}

TEST(align_rl_compare, d_reaching_finds_the_first_crossing_or_never) {
  const std::vector<double> d{0, 1, 2, 3}, g{0, 0.4, 0.2, 0.6};
  EXPECT_DOUBLE_EQ(d_reaching(d, g, 0.2), 0.5);
  EXPECT_DOUBLE_EQ(d_reaching(d, g, 0.5), 2.75);  // from the dip at d 2 (0.2) to 0.6 at d 3
  EXPECT_DOUBLE_EQ(d_reaching(d, g, -0.1), 0);
  EXPECT_LT(d_reaching(d, g, 0.7), 0);
}

TEST(align_rl_compare, compares_at_rls_peak) {
  const std::vector<double> bd{0, 0.44, 0.8}, bg{0, 0.2, 0.3};
  const std::vector<double> rd{0, 0.2, 0.5, 1.0}, rg{0, 0.05, 0.1, -0.2};
  const rl_bon_comparison c = compare_rl_bon(rd, rg, bd, bg);
  EXPECT_DOUBLE_EQ(c.rl_d_peak, 0.5);
  EXPECT_DOUBLE_EQ(c.rl_gain_peak, 0.1);
  EXPECT_NEAR(c.bon_gain_at_peak, 0.2 + 0.06 / 0.36 * 0.1, 1e-12);
  EXPECT_NEAR(c.bon_minus_rl, c.bon_gain_at_peak - 0.1, 1e-12);
  EXPECT_NEAR(c.bon_kl_same_gain, 0.22 * 0.22, 1e-12);
  // RL that gains more than best-of-n ever does: best-of-n never reaches it, the difference is negative.
  const std::vector<double> rg2{0, 0.2, 0.5, 0.1};
  const rl_bon_comparison c2 = compare_rl_bon(rd, rg2, bd, bg);
  EXPECT_LT(c2.bon_kl_same_gain, 0);
  EXPECT_NEAR(c2.bon_minus_rl, gain_at(bd, bg, 0.5) - 0.5, 1e-12);
}

TEST(align_rl_compare, bad_curves_are_errors) {
  const std::vector<double> d{0, 1}, g{0};
  EXPECT_THROW((void)gain_at(d, g, 0.5), std::exception);
  const std::vector<double> down{0, 1, 0.5}, g3{0, 1, 2};
  EXPECT_THROW((void)d_reaching(down, g3, 0.5), std::exception);
}
