// The TMS experiment's summary numbers on hand-built models (tms_experiment.hpp), its task
// schema, and a trained n = 2, m = 1 model's phases at the two corners of Elhage et al.'s
// phase diagram.
#include "interp/tms_experiment.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"

using namespace lmlab;
using namespace lmlab::interp;

namespace {
tms_model make(std::int64_t n, std::int64_t m, std::vector<double> W) {
  tms_model t;
  t.n = n;
  t.m = m;
  t.W = std::move(W);
  t.b.assign(static_cast<std::size_t>(n), 0.0);
  return t;
}
}  // namespace

TEST(tms_experiment, summary_of_an_antipodal_pair) {
  // n = 2, m = 1, W = [1, -1]: both represented, opposite, D* = 1/2, D_i = 1/(1+1).
  const auto s = summarize(make(2, 1, {1.0, -1.0}), 0.5);
  EXPECT_EQ(s.represented, 2);
  EXPECT_DOUBLE_EQ(s.dims_per_feature, 0.5);
  EXPECT_DOUBLE_EQ(s.min_cosine, -1.0);
  EXPECT_DOUBLE_EQ(s.interference, 1.0);
  ASSERT_EQ(s.feature_dims.size(), 2u);
  EXPECT_DOUBLE_EQ(s.feature_dims[0], 0.5);
  EXPECT_DOUBLE_EQ(s.feature_dims[1], 0.5);
}

TEST(tms_experiment, summary_of_orthogonal_features_and_a_dropped_one) {
  // n = 3, m = 2, W columns e1, e2, 0 (row-major (m, n)): two features, no interference.
  const auto s = summarize(make(3, 2, {1, 0, 0, 0, 1, 0}), 0.5);
  EXPECT_EQ(s.represented, 2);
  EXPECT_DOUBLE_EQ(s.dims_per_feature, 1.0);
  EXPECT_DOUBLE_EQ(s.interference, 0.0);
  EXPECT_DOUBLE_EQ(s.min_cosine, 0.0);
  EXPECT_DOUBLE_EQ(s.feature_dims[0], 1.0);
  EXPECT_DOUBLE_EQ(s.feature_dims[2], 0.0);
  // A pentagon (n = 5 in m = 2 at 72 degrees): D_i = 2/5 for every feature, as the paper's.
  std::vector<double> W(10);
  for (int i = 0; i < 5; ++i) {
    W[static_cast<std::size_t>(i)] = std::cos(2 * M_PI * i / 5);
    W[static_cast<std::size_t>(5 + i)] = std::sin(2 * M_PI * i / 5);
  }
  const auto p = summarize(make(5, 2, W), 0.5);
  EXPECT_EQ(p.represented, 5);
  for (double d : p.feature_dims) EXPECT_NEAR(d, 0.4, 1e-12);
  EXPECT_NEAR(p.dims_per_feature, 0.4, 1e-12);
}

TEST(tms_experiment, schema_fills_defaults_and_rejects_m_above_n) {
  const auto info = tasks::task_from_table("tms", "", tms_params());
  const auto j = info.canonical({{"name", "tms"}, {"sparsity", 0.9}});
  EXPECT_EQ(j["n"], 5);
  EXPECT_DOUBLE_EQ(j["sparsity"].get<double>(), 0.9);
  EXPECT_THROW(info.canonical({{"n", 2}, {"m", 3}}), tasks::param_error);
  EXPECT_THROW(info.canonical({{"sparsity", 1.0}}), tasks::param_error);
  const auto c = to_tms_config(tms_params().read({{"n", 3}, {"importance_decay", 0.5}}), 7);
  ASSERT_EQ(c.importance.size(), 3u);
  EXPECT_DOUBLE_EQ(c.importance[2], 0.25);
}

TEST(tms_experiment, n2_m1_dense_keeps_one_feature_and_sparse_equal_importance_goes_antipodal) {
  tms_task dense;
  dense.n = 2, dense.m = 1, dense.sparsity = 0.0, dense.importance_decay = 0.5, dense.steps = 2000, dense.instances = 2;
  const auto d = summarize(train_tms(to_tms_config(dense, 1)), 0.5);
  EXPECT_EQ(d.represented, 1) << "dense: only the more important feature";
  EXPECT_GT(d.norms[0], d.norms[1]);
  tms_task sparse = dense;
  sparse.sparsity = 0.95;
  sparse.importance_decay = 1.0;
  const auto s = summarize(train_tms(to_tms_config(sparse, 1)), 0.5);
  EXPECT_EQ(s.represented, 2) << "sparse, equal importance: both, in superposition";
  EXPECT_LT(s.min_cosine, -0.9);
}

TEST(tms_experiment, phase_of_feature_two_on_hand_made_weights) {
  // n = 2, m = 1: W = [W_1, W_2]; represented means ||W_i|| > 0.5.
  EXPECT_EQ(classify_phase(make(2, 1, {1.0, 0.0}), 0.5), tms_phase::not_represented);
  EXPECT_EQ(classify_phase(make(2, 1, {0.0, 0.0}), 0.5), tms_phase::not_represented);
  EXPECT_EQ(classify_phase(make(2, 1, {1.0, 0.5}), 0.5), tms_phase::not_represented) << "at the threshold: not above it";
  EXPECT_EQ(classify_phase(make(2, 1, {0.0, -1.0}), 0.5), tms_phase::dedicated);
  EXPECT_EQ(classify_phase(make(2, 1, {0.3, 1.0}), 0.5), tms_phase::dedicated) << "W_1 below the threshold";
  EXPECT_EQ(classify_phase(make(2, 1, {1.0, -1.0}), 0.5), tms_phase::superposed);
  EXPECT_EQ(classify_phase(make(2, 1, {-0.8, 1.2}), 0.5), tms_phase::superposed);
  EXPECT_EQ(classify_phase(make(2, 1, {1.0, 1.0}), 0.5), tms_phase::other) << "same direction: not antipodal";
  // m = 2: orthogonal columns have cos 0, not < 0, so two dedicated dimensions read as "other".
  EXPECT_EQ(classify_phase(make(2, 2, {1, 0, 0, 1}), 0.5), tms_phase::other);
  EXPECT_EQ(classify_phase(make(2, 2, {1, -1, 0, 0.1}), 0.5), tms_phase::superposed);
  EXPECT_STREQ(phase_name(tms_phase::dedicated), "dedicated");
  EXPECT_THROW(classify_phase(make(3, 1, {1, 1, 1}), 0.5), lmlab::error);
}

namespace {
// k unit columns (each a point of `pts`, d coordinates) as a (d, k) row-major W.
tms_model from_points(std::int64_t d, const std::vector<std::vector<double>>& pts) {
  const auto k = static_cast<std::int64_t>(pts.size());
  std::vector<double> W(static_cast<std::size_t>(d * k));
  for (std::int64_t i = 0; i < k; ++i)
    for (std::int64_t j = 0; j < d; ++j) W[static_cast<std::size_t>(j * k + i)] = pts[static_cast<std::size_t>(i)][static_cast<std::size_t>(j)];
  return make(k, d, std::move(W));
}
}  // namespace

TEST(tms_experiment, feature_dimensionality_of_the_papers_polytopes) {
  // Unit vectors forming a tight frame (sum_j w_j w_jᵀ = (k/d) I) give every feature
  // D_i = 1 / sum_j cos²(w_i, w_j) = d/k: the fractions Elhage et al. name.
  const double s3 = 1.0 / std::sqrt(3.0);
  const auto tetra = summarize(from_points(3, {{s3, s3, s3}, {s3, -s3, -s3}, {-s3, s3, -s3}, {-s3, -s3, s3}}), 0.5);
  for (double d : tetra.feature_dims) EXPECT_NEAR(d, 0.75, 1e-12);
  EXPECT_NEAR(tetra.at_fraction[1], 1.0, 1e-12);  // all four at "3/4"
  std::vector<std::vector<double>> tri, anti;
  for (int i = 0; i < 3; ++i) tri.push_back({std::cos(2 * M_PI * i / 3), std::sin(2 * M_PI * i / 3)});
  const auto t = summarize(from_points(2, tri), 0.5);
  for (double d : t.feature_dims) EXPECT_NEAR(d, 2.0 / 3, 1e-12);
  EXPECT_NEAR(t.at_fraction[2], 1.0, 1e-12);
  // Square antiprism: two squares turned 45° against each other at heights ±1/sqrt(3) (radius
  // sqrt(2/3)), the height at which it is a tight frame: D_i = 3/8.
  const double r = std::sqrt(2.0 / 3.0);
  for (int i = 0; i < 8; ++i) anti.push_back({r * std::cos(M_PI * i / 4), r * std::sin(M_PI * i / 4), i % 2 ? s3 : -s3});
  const auto a = summarize(from_points(3, anti), 0.5);
  for (double d : a.feature_dims) EXPECT_NEAR(d, 3.0 / 8, 1e-12);
  EXPECT_NEAR(a.at_fraction[5], 1.0, 1e-12);
  EXPECT_NEAR(a.at_fractions, 1.0, 1e-12);
}

TEST(tms_experiment, shares_at_the_fractions_count_only_represented_features_near_one) {
  // Columns e1 and (cos 60°, sin 60°): D ≈ 1 / (1 + 1/4) = 0.8, 0.05 from 3/4, at no fraction;
  // a third column (0.1, 0) is not represented (norm 0.1 < 0.5) and not counted, though its
  // small interference enters the others' D_i.
  const double c = 0.5, sn = std::sqrt(3.0) / 2;
  const auto s = summarize(make(3, 2, {1, c, 0.1, 0, sn, 0}), 0.5);
  EXPECT_EQ(s.represented, 2);
  EXPECT_NEAR(s.feature_dims[0], 1.0 / (1.0 + 0.25 + 0.01), 1e-12);  // 0.1² interference from column 3
  EXPECT_NEAR(s.feature_dims[1], 1.0 / (0.25 + 1.0 + 0.05 * 0.05), 1e-12);  // 0.798
  EXPECT_DOUBLE_EQ(s.at_fractions, 0.0);
  // Antipodal pair plus an orthogonal feature: D = 1/2, 1/2, 1: shares 2/3 at "1/2", 1/3 at "1".
  const auto p = summarize(make(3, 2, {1, -1, 0, 0, 0, 1}), 0.5);
  EXPECT_NEAR(p.at_fraction[3], 2.0 / 3, 1e-12);
  EXPECT_NEAR(p.at_fraction[0], 1.0 / 3, 1e-12);
  EXPECT_NEAR(p.at_fractions, 1.0, 1e-12);
  // The tolerance is 0.02 on each side; the nearest fraction wins where bands overlap.
  EXPECT_EQ(nearest_fraction(0.519), 3);
  EXPECT_EQ(nearest_fraction(0.521), -1);
  EXPECT_EQ(nearest_fraction(0.39), 4);  // 2/5 is 0.01 away, 3/8 0.015
  EXPECT_EQ(nearest_fraction(0.385), 5);
  EXPECT_EQ(nearest_fraction(0.395), 4);
  EXPECT_EQ(nearest_fraction(0.99), 0);
  // Chance on [0.3, 1]: bands 1 [0.98, 1], 3/4, 2/3, 1/2 (0.04 each), 3/8 ∪ 2/5 = [0.355, 0.42]:
  // (0.02 + 3 × 0.04 + 0.065) / 0.7.
  EXPECT_NEAR(chance_share(), 0.205 / 0.7, 1e-12);
}
