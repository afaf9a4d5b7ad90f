// Calibration: ECE bins, Brier scores and temperature scaling against hand-computed values,
// including a temperature with a closed form.
#include "analysis/calibration.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace a = lmlab::analysis;

TEST(calibration, ece_hand_computed_with_bins) {
  // 10 bins. 0.95 -> bin 9 (acc 1, gap .05); 0.85 x2 -> bin 8 (acc .5, gap .35);
  // 0.25 -> bin 2 (acc 0, gap .25); 0.15 -> bin 1 (acc 1, gap .85).
  // ECE = (.05 + 2*.35 + .25 + .85) / 5 = 0.37; MCE = 0.85.
  const std::vector<double> conf = {0.95, 0.85, 0.85, 0.25, 0.15};
  const std::vector<bool> ok = {true, true, false, false, true};
  const auto r = a::expected_calibration_error(conf, ok, 10);
  EXPECT_NEAR(r.ece, 0.37, 1e-12);
  EXPECT_NEAR(r.mce, 0.85, 1e-12);
  ASSERT_EQ(r.bins.size(), 10u);
  EXPECT_EQ(r.bins[8].count, 2u);
  EXPECT_DOUBLE_EQ(r.bins[8].accuracy, 0.5);
  EXPECT_DOUBLE_EQ(r.bins[8].mean_confidence, 0.85);
  EXPECT_DOUBLE_EQ(r.bins[8].lo, 0.8);
  EXPECT_DOUBLE_EQ(r.bins[8].hi, 0.9);
  EXPECT_EQ(r.bins[0].count, 0u);
  // Confidence 1.0 lands in the last bin, not past it.
  const auto one = a::expected_calibration_error(std::vector<double>{1.0}, std::vector<bool>{true}, 15);
  EXPECT_EQ(one.bins[14].count, 1u);
  EXPECT_EQ(one.ece, 0.0);
  try {
    a::expected_calibration_error(std::vector<double>{1.5}, std::vector<bool>{true}, 15);
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_STREQ(e.what(), "expected_calibration_error: confidence 1.5 of item 0 is outside [0, 1]");
  }
}

TEST(calibration, brier_scores) {
  // (0.1^2 + 0.2^2 + 0.6^2) / 3.
  EXPECT_NEAR(a::brier_score(std::vector<double>{0.9, 0.2, 0.6}, std::vector<bool>{true, false, false}),
              0.41 / 3, 1e-15);
  // Rows: (.3^2 + .2^2 + .1^2) = .14 and (.1^2 + .7^2 + .6^2) = .86; mean .5.
  const std::vector<double> p = {0.7, 0.2, 0.1, 0.1, 0.3, 0.6};
  EXPECT_NEAR(a::brier_score_multiclass(p, 3, std::vector<std::int32_t>{0, 1}), 0.5, 1e-15);
}

TEST(calibration, temperature_closed_form) {
  // Logits (2, 0) on three items, labels 0, 0, 1. With beta = 1/T, p = sigmoid(2 beta) and
  // dNLL/dbeta = 0  <=>  -2 * 2(1 - p) + 2p = 0  <=>  p = 2/3  <=>  beta = ln 2 / 2.
  // NLL at the optimum = (2 ln 1.5 + ln 3) / 3; at T = 1: (2 ln(1 + e^-2) + ln(1 + e^2)) / 3.
  const std::vector<double> z = {2, 0, 2, 0, 2, 0};
  const std::vector<std::int32_t> y = {0, 0, 1};
  const auto fit = a::fit_temperature(z, 2, y);
  EXPECT_NEAR(fit.temperature, 2.0 / std::log(2.0), 1e-10);
  EXPECT_NEAR(fit.nll_after, (2 * std::log(1.5) + std::log(3.0)) / 3, 1e-12);
  EXPECT_NEAR(fit.nll_before, (2 * std::log1p(std::exp(-2.0)) + std::log1p(std::exp(2.0))) / 3, 1e-12);
  EXPECT_GT(fit.iterations, 0);
  EXPECT_LT(fit.iterations, 50);
}

TEST(calibration, temperature_beats_a_grid_on_multiclass) {
  // Overconfident 4-class logits: the fitted T is the grid minimum to grid resolution.
  lmlab::rng r(9);
  const std::size_t n = 300, k = 4;
  std::vector<double> z(n * k);
  std::vector<std::int32_t> y(n);
  for (std::size_t i = 0; i < n; ++i) {
    y[i] = static_cast<std::int32_t>(r.below(k));
    for (std::size_t j = 0; j < k; ++j) z[i * k + j] = 3.0 * r.normal() + (static_cast<std::int32_t>(j) == y[i] ? 3.0 : 0.0);
  }
  const auto fit = a::fit_temperature(z, k, y);
  double best_t = 0, best = 1e300;
  for (double t = 0.5; t <= 6.0; t += 0.001) {
    const double v = a::mean_nll(z, k, y, t);
    if (v < best) best = v, best_t = t;
  }
  EXPECT_NEAR(fit.temperature, best_t, 2e-3);
  EXPECT_LE(fit.nll_after, best + 1e-12);
  EXPECT_GT(fit.temperature, 1.0);  // overconfident logits are softened
  EXPECT_LT(fit.nll_after, fit.nll_before);
}

TEST(calibration, softmax_and_errors) {
  const auto p = a::softmax_rows(std::vector<double>{0, std::log(3.0)}, 2);
  EXPECT_NEAR(p[0], 0.25, 1e-15);
  EXPECT_NEAR(p[1], 0.75, 1e-15);
  try {
    a::fit_temperature(std::vector<double>{1, 2, 3}, 2, std::vector<std::int32_t>{0, 1});
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_STREQ(e.what(), "fit_temperature: logits has 3 values, expected n*k = 2*2");
  }
  try {
    a::mean_nll(std::vector<double>{1, 2}, 2, std::vector<std::int32_t>{2});
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_STREQ(e.what(), "mean_nll: label 2 of item 0 is outside [0, 2)");
  }
}
