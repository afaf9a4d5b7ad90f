// PPO-clip and the group baseline (src/align/ppo.hpp): the clipped objective and its gradient
// against hand values (each of the four clip cases), finite differences in double away from
// the clip kinks, the clip fraction, and REINFORCE's gradient at ratio 1.
#include <gtest/gtest.h>

#include <cmath>

#include "align/ppo.hpp"
#include "autograd/autograd.hpp"
#include "autograd/gradcheck.hpp"
#include "ops/ops.hpp"

using namespace lmlab;
using namespace lmlab::align;

namespace {
tensor f64(const std::vector<double>& v) {
  return tensor::from<double>({static_cast<std::int64_t>(v.size())}, std::span<const double>(v));
}
}  // namespace

TEST(align_ppo, group_advantages_are_leave_one_out) {
  const auto a = group_advantages(std::vector<double>{1, 2, 6, 0, 0, 3}, 3);
  // group 1: 1 - (2+6)/2 = -3, 2 - 3.5 = -1.5, 6 - 1.5 = 4.5; group 2: -1.5, -1.5, 3
  const std::vector<double> want{-3, -1.5, 4.5, -1.5, -1.5, 3};
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_DOUBLE_EQ(a[i], want[i]) << i;
  EXPECT_THROW(group_advantages(std::vector<double>{1, 2, 3}, 2), lmlab::error);
  EXPECT_THROW(group_advantages(std::vector<double>{1, 2}, 1), lmlab::error);
}

TEST(align_ppo, clipped_objective_and_gradient_match_hand_values) {
  // ratios r = 1.5, 0.5, 1.1, 0.9, 1, 1.5, 0.5 with eps = 0.2:
  //   r 1.5, A  1: clipped,   term 1.2,  no gradient
  //   r 0.5, A -1: clipped,   term -0.8, no gradient
  //   r 1.1, A  2: unclipped, term 2.2
  //   r 0.9, A -2: unclipped, term -1.8
  //   r 1,   A .5: unclipped, term 0.5
  //   r 1.5, A -1: min(-1.5, -1.2) is the unclipped term -1.5
  //   r 0.5, A  1: min(0.5, 0.8) is the unclipped term 0.5
  const std::vector<double> r{1.5, 0.5, 1.1, 0.9, 1.0, 1.5, 0.5}, a{1, -1, 2, -2, 0.5, -1, 1};
  std::vector<double> old{-0.3, -1.0, -2.0, -0.7, -1.1, -0.2, -0.4}, nw(r.size());
  for (std::size_t i = 0; i < r.size(); ++i) nw[i] = old[i] + std::log(r[i]);
  tensor lp = f64(nw);
  lp.set_requires_grad(true);
  tensor loss = ppo_clip_loss(lp, f64(old), a, 0.2);
  EXPECT_NEAR(loss.item(), -(1.2 - 0.8 + 2.2 - 1.8 + 0.5 - 1.5 + 0.5) / 7, 1e-12);
  backward(loss);
  // dL/dlogp_i = -r_i A_i / B where unclipped, 0 where clipped
  const std::vector<double> g{0, 0, -2.2 / 7, 1.8 / 7, -0.5 / 7, 1.5 / 7, -0.5 / 7};
  const auto got = lp.grad().to_vector();
  for (std::size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(got[i], g[i], 1e-12) << "sample " << i;
  EXPECT_NEAR(ppo_clip_fraction(nw, old, a, 0.2), 2.0 / 7, 1e-15);
}

TEST(align_ppo, gradient_matches_finite_differences_in_double) {
  // log-ratios 0.05, -0.1, 0.4 (clipped for A > 0), -0.5 (clipped for A < 0), 0.3 (A < 0:
  // unclipped): every one at least 0.05 away from log(1 +- 0.2).
  const std::vector<double> old{-1.0, -2.0, -0.5, -1.5, -0.8}, a{1.5, -0.7, 2.0, -1.0, -0.4};
  const std::vector<double> nw{-0.95, -2.1, -0.1, -2.0, -0.5};
  const auto res = gradcheck([&](const std::vector<tensor>& x) { return ppo_clip_loss(x[0], x[1], a, 0.2); }, {f64(nw), f64(old)},
                             gradcheck_options{.skip_inputs = {1}});
  EXPECT_TRUE(res.ok) << res.report;
}

TEST(align_ppo, at_ratio_one_the_gradient_is_reinforces) {
  // First PPO epoch (pi = pi_old): d/dlogp of -mean(r A) = -A / B, REINFORCE's -mean(logp A).
  const std::vector<double> lpv{-1.0, -3.0, -0.2}, a{0.7, -1.3, 2.0};
  tensor lp = f64(lpv), lq = f64(lpv);
  lp.set_requires_grad(true);
  lq.set_requires_grad(true);
  backward(ppo_clip_loss(lp, f64(lpv), a, 0.1));
  backward(neg(mean(mul(lq, f64(a)))));
  const auto g1 = lp.grad().to_vector(), g2 = lq.grad().to_vector();
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(g1[i], g2[i], 1e-15) << i;
  EXPECT_THROW(ppo_clip_loss(lp, f64(lpv), a, 0.0), lmlab::error);
}
