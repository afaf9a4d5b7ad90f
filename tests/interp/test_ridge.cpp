// The ridge-classifier probe (probe.hpp fit_ridge): the closed form against hand values, and
// with the Hewitt & Liang control task the same three cases as the logistic probe: a planted
// feature is selective, independent labels are not, a type-only representation is not.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"
#include "core/rng.hpp"
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

namespace {
struct data {
  std::vector<double> X;
  std::vector<int> y;
  std::vector<std::int64_t> types;
};
data make(std::size_t N, std::size_t D, bool planted, std::uint64_t seed) {
  data d;
  rng r(seed);
  for (std::size_t i = 0; i < N; ++i) {
    const int y = static_cast<int>(r.below(2));
    d.y.push_back(y);
    d.types.push_back(static_cast<std::int64_t>(r.below(100)));
    for (std::size_t k = 0; k < D; ++k) d.X.push_back(r.normal() + (planted && k == 0 ? (y ? 2.0 : -2.0) : 0.0));
  }
  return d;
}
}  // namespace

TEST(ridge_probe, control_task_separates_planted_from_independent_and_type_only) {
  const interp::probe_options o{.kind = probe_kind::ridge, .l2 = 1e-2, .seed = 3};
  const auto p = make(400, 8, true, 1);
  const auto rp = interp::probe_with_control(p.X, 8, p.y, p.types, o);
  EXPECT_GT(rp.task_acc.estimate, 0.9);
  EXPECT_GT(rp.selectivity.lo, 0.25);
  EXPECT_GT(rp.weights[8] - rp.weights[0], 0.1);  // class 1 reads feature 0 upwards
  const auto n = make(400, 8, false, 2);
  const auto rn = interp::probe_with_control(n.X, 8, n.y, n.types, o);
  EXPECT_LT(rn.selectivity.lo, 0.0);
  EXPECT_GT(rn.selectivity.hi, 0.0);
  // One-hot types with type-determined labels: both tasks memorised, selectivity ~ 0.
  data t;
  rng r(5);
  for (std::size_t i = 0; i < 300; ++i) {
    const auto ty = static_cast<std::int64_t>(r.below(10));
    t.types.push_back(ty);
    t.y.push_back(static_cast<int>(ty % 2));
    for (std::int64_t k = 0; k < 10; ++k) t.X.push_back(k == ty ? 1.0 : 0.0);
  }
  const auto rt = interp::probe_with_control(t.X, 10, t.y, t.types, {.kind = probe_kind::ridge, .l2 = 1e-2, .seed = 1});
  EXPECT_GT(rt.task_acc.estimate, 0.95);
  EXPECT_GT(rt.control_acc.estimate, 0.95);
  EXPECT_LT(std::abs(rt.selectivity.estimate), 0.05);
}

TEST(ridge_probe, bad_kind_and_l2_are_errors) {
  EXPECT_THROW(interp::parse_probe_kind("svm"), error);
  EXPECT_EQ(interp::parse_probe_kind("ridge"), probe_kind::ridge);
  EXPECT_THROW(interp::fit_ridge({1, 2}, 1, {0, 1}, 2, {.kind = probe_kind::ridge, .l2 = 0}), error);
}
