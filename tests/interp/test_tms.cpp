// Toy models of superposition (Elhage et al. 2022): with n = 2 features and m = 1 hidden
// dimension, dense features leave one feature unrepresented, while sparse features are both
// stored, antipodally (W_1 = -W_2, unit norms) — the paper's analytic solution; with n = 5,
// m = 2 the intro figure (orthogonal pair when dense, pentagon when sparse).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "interp/tms.hpp"

using namespace lmlab;

TEST(tms, two_features_in_one_dimension_are_antipodal_when_sparse_and_one_is_dropped_when_dense) {
  interp::tms_config c;
  c.n = 2;
  c.m = 1;
  c.steps = 1500;
  c.batch = 128;
  c.sparsity = 0.95;
  const auto sparse = interp::train_tms(c);
  EXPECT_NEAR(sparse.norm(0), 1.0, 0.15);
  EXPECT_NEAR(sparse.norm(1), 1.0, 0.15);
  EXPECT_NEAR(sparse.cosine(0, 1), -1.0, 1e-6);
  EXPECT_LT(sparse.b[0], 0.05);  // interference is rare at S = 0.95, so the bias stays near 0
  EXPECT_LT(sparse.b[1], 0.05);
  EXPECT_NEAR(sparse.dimensions_per_feature(), 0.5, 0.1);
  c.sparsity = 0.0;
  c.importance = {1.0, 0.5};
  const auto dense = interp::train_tms(c);
  EXPECT_NEAR(dense.norm(0), 1.0, 0.1);  // the more important feature takes the dimension
  EXPECT_LT(dense.norm(1), 0.1);
  EXPECT_NEAR(dense.b[1], 0.5, 0.05);  // a dropped feature is predicted by its mean, E[x] = 1/2
  EXPECT_NEAR(dense.dimensions_per_feature(), 1.0, 0.2);
}

TEST(tms, bad_configs_are_errors) {
  interp::tms_config c;
  c.importance = {1, 1};
  try {
    interp::train_tms(c);
    FAIL();
  } catch (const error& e) {
    EXPECT_STREQ(e.what(), "tms: 2 importances for 5 features");
  }
}

TEST(tms, five_features_in_two_dimensions_reproduce_the_intro_figure) {
  // ref: Elhage et al. 2022, fig. 1 (importance 0.9^i): dense features -> the two most
  // important are stored orthogonally and the rest dropped; at S = 0.9 all five are stored
  // as a pentagon (adjacent angles 72 degrees) with negative biases.
  interp::tms_config c;
  c.n = 5;
  c.m = 2;
  for (int i = 0; i < 5; ++i) c.importance.push_back(std::pow(0.9, i));
  const auto dense = interp::train_tms(c);
  EXPECT_NEAR(dense.norm(0), 1.0, 0.1);
  EXPECT_NEAR(dense.norm(1), 1.0, 0.1);
  EXPECT_NEAR(dense.cosine(0, 1), 0.0, 0.1);
  for (int i = 2; i < 5; ++i) EXPECT_LT(dense.norm(i), 0.15) << i;
  c.sparsity = 0.9;
  const auto sparse = interp::train_tms(c);
  std::vector<double> angle;
  for (int i = 0; i < 5; ++i) {
    EXPECT_GT(sparse.norm(i), 0.9) << i;
    EXPECT_LT(sparse.b[static_cast<std::size_t>(i)], 0.0) << i;
    angle.push_back(std::atan2(sparse.W[static_cast<std::size_t>(5 + i)], sparse.W[static_cast<std::size_t>(i)]) * 180 / M_PI);
  }
  std::sort(angle.begin(), angle.end());
  for (int i = 0; i < 5; ++i) {
    const double gap = i < 4 ? angle[static_cast<std::size_t>(i + 1)] - angle[static_cast<std::size_t>(i)] : 360 + angle[0] - angle[4];
    EXPECT_NEAR(gap, 72.0, 10.0) << i;
  }
}
