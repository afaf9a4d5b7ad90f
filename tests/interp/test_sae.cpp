// Sparse autoencoders (sae.hpp): metrics against hand values, gradients against central finite
// differences in double (L1 and TopK), the CE-loss score, and the synthetic benchmark: both
// kinds recover planted features in superposition (64 features in 32 dimensions, frequency
// skew) with matched cosine (MCC) >= 0.9.
#include "interp/sae.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"

using namespace lmlab;
using namespace lmlab::interp;

namespace {
sae hand_sae() {
  // d_in 2, d_sae 3: latents read x0, x1 and nothing; decoder rows e0, e1, e0.
  sae s;
  s.kind = sae_kind::l1;
  s.d_in = 2;
  s.d_sae = 3;
  s.W_enc = {1, 0, 0, 1, 0, 0};
  s.b_enc = {0, 0, 0};
  s.W_dec = {1, 0, 0, 1, 1, 0};
  s.b_dec = {0, 0};
  return s;
}
}  // namespace

TEST(sae, metrics_match_hand_values) {
  const sae s = hand_sae();
  // x = (1, 2): f = (1, 2, 0), x_hat = (1, 2). x = (3, -1): f = (3, 0, 0), x_hat = (3, 0), error 1.
  const std::vector<double> X = {1, 2, 3, -1};
  const auto m = evaluate_sae(s, X, 2);
  EXPECT_DOUBLE_EQ(m.l0, 1.5);
  EXPECT_DOUBLE_EQ(m.dead_fraction, 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.mse, 1.0 / 4.0);  // squared error 1 over 2 rows x 2 dims
  // mean (2, 0.5): total variance 1 + 2.25 + 1 + 2.25 = 6.5.
  EXPECT_DOUBLE_EQ(m.explained_variance, 1 - 1 / 6.5);
  // Loss: (0 + 1) / 2 reconstruction + l1 (3 + 3) / 2 with unit decoder rows.
  EXPECT_DOUBLE_EQ(sae_loss(s, X, 2, 0.1, nullptr), 0.5 + 0.1 * 3);
  sae t = s;
  t.kind = sae_kind::topk;
  t.k = 1;  // x = (1, 2) keeps only latent 1: x_hat = (0, 2), error 1
  const auto mt = evaluate_sae(t, X, 2);
  EXPECT_DOUBLE_EQ(mt.l0, 1.0);
  EXPECT_DOUBLE_EQ(mt.mse, 2.0 / 4.0);
}

TEST(sae, ce_loss_score_matches_hand_values) {
  EXPECT_DOUBLE_EQ(ce_loss_score(2.0, 2.0, 5.0), 1.0);
  EXPECT_DOUBLE_EQ(ce_loss_score(2.0, 5.0, 5.0), 0.0);
  EXPECT_DOUBLE_EQ(ce_loss_score(2.0, 2.6, 5.0), 0.8);
  EXPECT_TRUE(std::isnan(ce_loss_score(2.0, 2.0, 2.0)));
}

TEST(sae, gradients_match_finite_differences) {
  for (const auto kind : {sae_kind::l1, sae_kind::topk}) {
    rng r(3, 0);
    sae s;
    s.kind = kind;
    s.d_in = 4;
    s.d_sae = 6;
    s.k = 3;
    for (auto* v : {&s.W_enc, &s.W_dec}) {
      v->resize(24);
      for (auto& x : *v) x = r.normal();
    }
    s.b_enc.resize(6);
    for (auto& x : s.b_enc) x = 0.3 * r.normal();
    s.b_dec.resize(4);
    for (auto& x : s.b_dec) x = 0.3 * r.normal();
    std::vector<double> X(5 * 4);
    for (auto& x : X) x = r.normal();
    std::vector<double> g;
    sae_loss(s, X, 5, 0.2, &g);
    ASSERT_EQ(g.size(), 2u * 24 + 6 + 4);
    std::vector<double*> params;
    for (auto* v : {&s.W_enc, &s.b_enc, &s.W_dec, &s.b_dec})
      for (auto& x : *v) params.push_back(&x);
    const double h = 1e-6;
    for (std::size_t p = 0; p < params.size(); ++p) {
      const double keep = *params[p];
      *params[p] = keep + h;
      const double up = sae_loss(s, X, 5, 0.2, nullptr);
      *params[p] = keep - h;
      const double down = sae_loss(s, X, 5, 0.2, nullptr);
      *params[p] = keep;
      EXPECT_NEAR(g[p], (up - down) / (2 * h), 1e-6 + 1e-5 * std::abs(g[p])) << "kind " << static_cast<int>(kind) << " param " << p;
    }
  }
}

TEST(sae, errors_name_the_bad_value) {
  EXPECT_THROW(parse_sae_kind("gated"), lmlab::error);
  sae_config c;
  c.d_in = 2;
  c.d_sae = 3;
  c.k = 4;
  EXPECT_THROW(train_sae({1, 2}, 1, c), lmlab::error);
}

TEST(sae, synthetic_benchmark_recovers_planted_features) {
  synthetic_config sc;  // 64 features in 32 dimensions, 3 active on average, p_i ∝ (i+1)^-0.5
  sc.seed = 1;
  const synthetic_data truth = make_synthetic(sc);
  double psum = 0;
  for (double p : truth.p) psum += p;
  EXPECT_NEAR(psum, 3.0, 1e-9);
  EXPECT_NEAR(truth.p.front() / truth.p.back(), 8.0, 1e-9);  // skew 0.5: 64^0.5 between the ends
  rng r(7, 0);
  std::vector<double> X, Xt;
  std::vector<std::uint8_t> act, actt;
  sample_synthetic(truth, 8192, r, X, act);
  sample_synthetic(truth, 2048, r, Xt, actt);
  for (const auto kind : {sae_kind::topk, sae_kind::l1}) {
    sae_config c;
    c.kind = kind;
    c.d_in = 32;
    c.d_sae = 64;
    c.k = 4;
    c.l1 = 0.2;
    c.steps = 3000;
    c.batch = 64;
    c.lr = 3e-3;
    const sae s = train_sae(X, 8192, c);
    const recovery rec = recover_features(s, truth, Xt, actt, 2048);
    const sae_metrics m = evaluate_sae(s, Xt, 2048);
    SCOPED_TRACE(kind == sae_kind::topk ? "topk" : "l1");
    EXPECT_GE(rec.mcc, 0.9) << "mmcs " << rec.mmcs << " recovered " << rec.recovered;
    EXPECT_GE(rec.mmcs, rec.mcc - 1e-12);
    EXPECT_GT(m.explained_variance, 0.8);
    EXPECT_GT(rec.precision, 0.4);
    EXPECT_GT(rec.recall, 0.5);
  }
}
