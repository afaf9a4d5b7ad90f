// The ridge-classifier probe (probe.hpp fit_ridge): the closed form against hand values and its
// errors. With the control task it runs the logistic probe's three cases (test_probe.cpp).
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"
#include "interp/probe.hpp"

using namespace lmlab;
using interp::probe_kind;

TEST(ridge_probe, closed_form_matches_hand_values) {
  // One feature x = -1, 1, -1, 1 (mean 0, sd 1) with labels 0, 1, 0, 1, l2 = 1:
  // (z^T z / N + 1) w_k = z^T y_k / N gives w = (-0.5, 0.5) / 2; b = label frequencies (0.5, 0.5).
  const auto m = interp::fit_ridge({-1, 1, -1, 1}, 1, {0, 1, 0, 1}, 2, {.kind = probe_kind::ridge, .l2 = 1.0});
  ASSERT_EQ(m.w.size(), 2u);
  EXPECT_DOUBLE_EQ(m.w[0], -0.25);
  EXPECT_DOUBLE_EQ(m.w[1], 0.25);
  EXPECT_DOUBLE_EQ(m.b[0], 0.5);
  EXPECT_DOUBLE_EQ(m.b[1], 0.5);
  // Scaled and shifted features (x' = 3x + 5) give the same predictions: standardisation.
  const auto s = interp::fit_ridge({2, 8, 2, 8}, 1, {0, 1, 0, 1}, 2, {.kind = probe_kind::ridge, .l2 = 1.0});
  EXPECT_NEAR(s.w[1], 0.25 / 3, 1e-12);
  EXPECT_NEAR(s.b[1], 0.5 - 0.25 / 3 * 5, 1e-12);
  const double x = 8;
  EXPECT_EQ(s.predict(&x), 1);
}

TEST(ridge_probe, two_features_solve_the_normal_equations) {
  // Features (1, 0), (0, 1), (-1, 0), (0, -1): standardised z = x * sqrt(2); Z^T Z / N = I,
  // so w_k = Z^T y_k / N / (1 + l2). Class 1 = the first two rows: w_1 = (sqrt2/4, sqrt2/4) / 1.5.
  const auto m = interp::fit_ridge({1, 0, 0, 1, -1, 0, 0, -1}, 2, {1, 1, 0, 0}, 2, {.kind = probe_kind::ridge, .l2 = 0.5});
  const double w = std::sqrt(2.0) / 4 / 1.5 * std::sqrt(2.0);  // back in x units: times 1 / sd = sqrt 2
  EXPECT_NEAR(m.w[2], w, 1e-12);
  EXPECT_NEAR(m.w[3], w, 1e-12);
  EXPECT_NEAR(m.w[0], -w, 1e-12);
}

TEST(ridge_probe, bad_kind_and_l2_are_errors) {
  EXPECT_THROW(interp::parse_probe_kind("svm"), error);
  EXPECT_EQ(interp::parse_probe_kind("ridge"), probe_kind::ridge);
  EXPECT_THROW(interp::fit_ridge({1, 2}, 1, {0, 1}, 2, {.kind = probe_kind::ridge, .l2 = 0}), error);
}
