// Inference-aware sizing (Sardana & Frankle 2023) and its cost.
#include <gtest/gtest.h>

#include <cmath>

#include "../error_of.hpp"
#include "core/error.hpp"
#include "plan/inference.hpp"
#include "plan/tables.hpp"

using namespace lmlab::plan;
using lmlab::testing::error_of;

TEST(inference, no_inference_is_chinchilla) {
  const auto& f = known_loss_fits()[0];
  const auto c = closed_form_optimum(f, 1e23);
  const auto p = inference_optimal(f, c.loss, 0);
  EXPECT_NEAR(p.n / c.n, 1.0, 1e-5);
  EXPECT_NEAR(p.d_train / c.d, 1.0, 1e-5);
  EXPECT_NEAR(p.train_flops / 1e23, 1.0, 1e-9);
}

TEST(inference, more_inference_means_smaller_longer_trained_models) {
  const auto& f = known_loss_fits()[0];
  const double loss = f.loss(7e9, 2e12);
  double last_n = 1e30;
  for (double dinf : {1e10, 1e11, 1e12, 1e13, 1e14}) {
    const auto p = inference_optimal(f, loss, dinf);
    const auto c = chinchilla_at_loss(f, loss, dinf);
    EXPECT_LT(p.n, last_n);
    EXPECT_LE(p.total_flops, c.total_flops * (1 + 1e-12));
    EXPECT_NEAR(f.loss(p.n, p.d_train), loss, 1e-9);  // the constraint holds
    // First-order optimality: d/dN [6 N D(N) + 2 N Dinf] = 0 (central difference in log N).
    const double h = 1e-4;
    auto cost = [&](double n) { return 6 * n * tokens_for_loss(f, n, loss) + 2 * n * dinf; };
    EXPECT_NEAR((cost(p.n * std::exp(h)) - cost(p.n * std::exp(-h))) / (2 * h) / p.total_flops, 0.0, 1e-4);
    last_n = p.n;
  }
}

TEST(inference, cost_arithmetic_and_errors) {
  lifetime_plan p;
  p.train_flops = 3.6e21, p.inference_flops = 7.2e20;
  cost_options o;
  o.peak_flops = 1e15, o.price_per_hour = 2, o.train_mfu = 0.5, o.serve_utilization = 0.2;
  const auto c = cost_of(p, o);
  EXPECT_DOUBLE_EQ(c.train_hours, 2000);
  EXPECT_DOUBLE_EQ(c.inference_hours, 1000);
  EXPECT_DOUBLE_EQ(c.total_dollars, 6000);
  try {
    inference_optimal(known_loss_fits()[0], 1.5, 1e12);
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_STREQ(e.what(), "--loss: target 1.5 is not above the irreducible loss 1.69 of fit 'hoffmann'");
  }
  EXPECT_TRUE(std::isinf(tokens_for_loss(known_loss_fits()[0], 1e6, 1.8)));
}

TEST(inference, a_list_for_a_single_value_flag_is_an_error_not_its_first_item) {
  // `--loss 2.0,2.1` used to print one row (for 2.0) and drop 2.1 silently.
  inference_args a;
  a.loss = "2.0,2.1";
  EXPECT_EQ(error_of([&] { inference_table(a); }), "--loss: takes one value, got 2 ('2.0,2.1')");
  tco_args t;
  t.compute = "1e21,1e23";
  EXPECT_THROW(tco_table(t), lmlab::error);
  mfu_args m;
  m.tokens_per_sec = "1000";
  m.params = "7e9,8e9", m.layers = "32", m.d_attn = "4096";
  EXPECT_EQ(error_of([&] { mfu_table(m); }), "--params: takes one value, got 2 ('7e9,8e9')");
  a.loss = "2.1";
  EXPECT_EQ(inference_table(a).rows().size(), 4u);
}
