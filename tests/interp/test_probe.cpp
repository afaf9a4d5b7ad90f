// Linear probes (logistic and ridge) with a control task (Hewitt & Liang 2019): a planted linear
// feature gives high selectivity; labels independent of the features give selectivity near 0; a
// representation that encodes only the word type gives high control accuracy (low selectivity).
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "interp/probe.hpp"

using namespace lmlab;

namespace {

struct data {
  std::vector<double> X;
  std::vector<int> y;
  std::vector<std::int64_t> types;
};

// N examples of dimension D with random types in [0, n_types); `planted` adds +-2 on feature 0
// by label.
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

class probe_kinds : public ::testing::TestWithParam<interp::probe_kind> {};

}  // namespace

TEST_P(probe_kinds, a_planted_feature_gives_high_selectivity) {
  const auto d = make(400, 8, true, 1);
  const auto r = interp::probe_with_control(d.X, 8, d.y, d.types, {.kind = GetParam(), .seed = 3});
  EXPECT_EQ(r.n_test, 120u);
  EXPECT_GT(r.task_acc.estimate, 0.9);
  EXPECT_LT(r.control_acc.estimate, 0.65);
  EXPECT_GT(r.selectivity.lo, 0.25);
  // The direction W[1] - W[0] points along the planted feature.
  const double w0 = r.weights[8] - r.weights[0];
  double rest = 0;
  for (std::size_t k = 1; k < 8; ++k) rest = std::max(rest, std::abs(r.weights[8 + k] - r.weights[k]));
  EXPECT_GT(w0, 5 * rest);
}

TEST_P(probe_kinds, labels_independent_of_the_features_give_selectivity_near_zero) {
  const auto d = make(400, 8, false, 2);
  const auto r = interp::probe_with_control(d.X, 8, d.y, d.types, {.kind = GetParam(), .seed = 3});
  EXPECT_NEAR(r.task_acc.estimate, 0.5, 0.12);
  EXPECT_NEAR(r.selectivity.estimate, 0.0, 0.12);
  EXPECT_LT(r.selectivity.lo, 0.0);
  EXPECT_GT(r.selectivity.hi, 0.0);
}

TEST_P(probe_kinds, a_representation_of_the_type_alone_is_not_selective) {
  // Features one-hot in the type (10 types); labels a function of the type. Both the task and
  // the control task are solved by memorising types, so selectivity is low.
  data d;
  rng r(5);
  for (std::size_t i = 0; i < 300; ++i) {
    const auto t = static_cast<std::int64_t>(r.below(10));
    d.types.push_back(t);
    d.y.push_back(static_cast<int>(t % 2));
    for (std::int64_t k = 0; k < 10; ++k) d.X.push_back(k == t ? 1.0 : 0.0);
  }
  const auto res = interp::probe_with_control(d.X, 10, d.y, d.types, {.kind = GetParam(), .seed = 1});
  EXPECT_GT(res.task_acc.estimate, 0.95);
  EXPECT_GT(res.control_acc.estimate, 0.95);
  EXPECT_LT(std::abs(res.selectivity.estimate), 0.05);
}

INSTANTIATE_TEST_SUITE_P(kinds, probe_kinds, ::testing::Values(interp::probe_kind::logistic, interp::probe_kind::ridge));

TEST(probe, bad_inputs_are_errors_naming_the_problem) {
  try {
    interp::fit_logistic({1, 2, 3}, 2, {0, 1}, 2);
    FAIL();
  } catch (const error& e) {
    EXPECT_STREQ(e.what(), "probe: 3 features for 2 examples of dimension 2");
  }
}
