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
  const auto info = tms_task_info();
  const auto j = info.canonical({{"name", "tms"}, {"sparsity", 0.9}});
  EXPECT_EQ(j["n"], 5);
  EXPECT_DOUBLE_EQ(j["sparsity"].get<double>(), 0.9);
  EXPECT_THROW(info.canonical({{"n", 2}, {"m", 3}}), tasks::param_error);
  EXPECT_THROW(info.canonical({{"sparsity", 1.0}}), tasks::param_error);
  const auto c = to_tms_config(read_tms_task({{"n", 3}, {"importance_decay", 0.5}}), 7);
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
