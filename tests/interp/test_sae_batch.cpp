// BatchTopK and AuxK SAEs (sae.hpp, sae_aux.cpp) and SAEs spliced into a model (sae_lm.hpp):
// the batch selection and the inference threshold against hand values, both gradients against
// central finite differences in double, AuxK's loss by hand and its effect (fewer dead latents),
// and the CE-loss score of a splice that reconstructs exactly (1) and of one that outputs zeros
// (0) on a tiny model, for attention and Mamba.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "interp/sae.hpp"
#include "interp/sae_lm.hpp"
#include "models/lm.hpp"
#include "tasks/params.hpp"
#include "../lm_test_config.hpp"

using namespace lmlab;
using namespace lmlab::interp;

namespace {
// d_in 2, d_sae 3: latents read x0, x1 and x0 + x1; decoder rows e0, e1, e0.
sae hand_sae(sae_kind kind, std::int64_t k) {
  sae s;
  s.kind = kind;
  s.k = k;
  s.d_in = 2;
  s.d_sae = 3;
  s.W_enc = {1, 0, 0, 1, 1, 1};
  s.b_enc = {0, 0, 0};
  s.W_dec = {1, 0, 0, 1, 1, 0};
  s.b_dec = {0, 0};
  return s;
}

sae random_sae(sae_kind kind, std::int64_t D, std::int64_t M, std::int64_t k, std::uint64_t seed) {
  rng r(seed, 0);
  sae s;
  s.kind = kind;
  s.d_in = D;
  s.d_sae = M;
  s.k = k;
  for (auto* v : {&s.W_enc, &s.W_dec}) {
    v->resize(static_cast<std::size_t>(D * M));
    for (auto& x : *v) x = r.normal();
  }
  s.b_enc.resize(static_cast<std::size_t>(M));
  for (auto& x : s.b_enc) x = 0.3 * r.normal();
  s.b_dec.resize(static_cast<std::size_t>(D));
  for (auto& x : s.b_dec) x = 0.3 * r.normal();
  return s;
}

std::vector<double*> params_of(sae& s) {
  std::vector<double*> p;
  for (auto* v : {&s.W_enc, &s.b_enc, &s.W_dec, &s.b_dec})
    for (auto& x : *v) p.push_back(&x);
  return p;
}

// Central differences in double of f at every parameter against g.
template <class F>
void expect_fd(sae& s, const std::vector<double>& g, F f, const char* what) {
  const auto ps = params_of(s);
  ASSERT_EQ(g.size(), ps.size());
  const double h = 1e-6;
  for (std::size_t p = 0; p < ps.size(); ++p) {
    const double keep = *ps[p];
    *ps[p] = keep + h;
    const double up = f();
    *ps[p] = keep - h;
    const double down = f();
    *ps[p] = keep;
    EXPECT_NEAR(g[p], (up - down) / (2 * h), 1e-6 + 1e-5 * std::abs(g[p])) << what << " param " << p;
  }
}
}  // namespace

TEST(sae_batch, batchtopk_keeps_the_batch_k_largest_and_rows_share_the_budget) {
  const sae s = hand_sae(sae_kind::batchtopk, 1);
  // Rows (3, 2) and (0.5, 0): pre-activations (3, 2, 5) and (0.5, 0, 0.5). B k = 2 entries kept
  // over the batch: 5 and 3, both from the first row; the second row gets none.
  const std::vector<double> X = {3, 2, 0.5, 0};
  std::vector<double> F(6);
  s.encode_batch(X.data(), 2, F.data());
  EXPECT_EQ(F, (std::vector<double>{3, 0, 5, 0, 0, 0}));
  // Per-row TopK with k = 1 would keep one per row.
  const sae t = hand_sae(sae_kind::topk, 1);
  t.encode_batch(X.data(), 2, F.data());
  EXPECT_EQ(F, (std::vector<double>{0, 0, 5, 0.5, 0, 0}));  // ties 0.5 / 0.5: the lower index
}

TEST(sae_batch, batchtopk_inference_is_a_jumprelu_at_the_threshold) {
  sae s = hand_sae(sae_kind::batchtopk, 1);
  s.threshold = 2.5;
  std::vector<double> f(3);
  const double x[2] = {3, 2};  // pre (3, 2, 5): 2 is below the threshold
  s.encode(x, f.data());
  EXPECT_EQ(f, (std::vector<double>{3, 0, 5}));
  const double y[2] = {-1, 2};  // pre (-1, 2, 1): nothing above 2.5
  s.encode(y, f.data());
  EXPECT_EQ(f, (std::vector<double>{0, 0, 0}));
}

TEST(sae_batch, batchtopk_gradients_match_finite_differences) {
  sae s = random_sae(sae_kind::batchtopk, 4, 6, 2, 5);
  rng r(9, 0);
  std::vector<double> X(5 * 4);
  for (auto& x : X) x = r.normal();
  std::vector<double> g, F;
  sae_loss(s, X, 5, 0.0, &g, &F);
  EXPECT_EQ(std::count_if(F.begin(), F.end(), [](double v) { return v > 0; }), 10);  // B k = 10 (all positive here)
  expect_fd(s, g, [&] { return sae_loss(s, X, 5, 0.0, nullptr); }, "batchtopk");
}

TEST(sae_batch, aux_loss_matches_hand_values) {
  sae s = hand_sae(sae_kind::topk, 1);
  // x = (1, 2): pre (1, 2, 3). Dead: latents 0 and 2; k_aux 1 keeps latent 2 (pre 3), decoder
  // e0: e_hat = (3, 0). With E = (1, 1): ||E - e_hat||^2 / ||E||^2 = (4 + 1) / 2.
  const std::vector<double> X = {1, 2}, E = {1, 1};
  EXPECT_DOUBLE_EQ(sae_aux_loss(s, X, E, 1, {1, 0, 1}, 1, nullptr), 2.5);
  // k_aux 2: e_hat = 1 e0 + 3 e0 = (4, 0): (9 + 1) / 2.
  EXPECT_DOUBLE_EQ(sae_aux_loss(s, X, E, 1, {1, 0, 1}, 2, nullptr), 5.0);
  // No dead latent: e_hat = 0, the loss is ||E||^2 / ||E||^2.
  EXPECT_DOUBLE_EQ(sae_aux_loss(s, X, E, 1, {0, 0, 0}, 2, nullptr), 1.0);
  // Two rows, the second with E = 0 (counts 0): the mean over rows halves the first's.
  EXPECT_DOUBLE_EQ(sae_aux_loss(s, {1, 2, 1, 2}, {1, 1, 0, 0}, 2, {1, 0, 1}, 1, nullptr), 1.25);
  EXPECT_THROW(sae_aux_loss(s, X, E, 1, {0, 0}, 2, nullptr), lmlab::error);
}

TEST(sae_batch, aux_loss_gradients_match_finite_differences_at_fixed_residual) {
  sae s = random_sae(sae_kind::topk, 4, 8, 2, 6);
  rng r(11, 0);
  std::vector<double> X(6 * 4), E(6 * 4);
  for (auto& x : X) x = r.normal();
  for (auto& e : E) e = r.normal();
  const std::vector<std::uint8_t> dead = {1, 0, 1, 1, 0, 1, 0, 1};
  std::vector<double> g;
  sae_aux_loss(s, X, E, 6, dead, 3, &g);
  expect_fd(s, g, [&] { return sae_aux_loss(s, X, E, 6, dead, 3, nullptr); }, "auxk");
}

// What AuxK does to the dead-latent share is measured (docs/interp.md: sae_lm, and on this
// benchmark it depends on whether latents outnumber features); here: it acts only once a latent
// is dead, and BatchTopK trains to a mean L0 near k with a positive threshold.
TEST(sae_batch, auxk_acts_only_on_dead_latents_and_batchtopk_keeps_l0_near_k) {
  synthetic_config sc;  // 64 features in 32 dimensions, as the synthetic benchmark
  sc.seed = 1;
  const synthetic_data truth = make_synthetic(sc);
  rng r(7, 0);
  std::vector<double> X, Xt;
  std::vector<std::uint8_t> act, actt;
  sample_synthetic(truth, 8192, r, X, act);
  sample_synthetic(truth, 2048, r, Xt, actt);
  sae_config c;
  c.d_in = 32;
  c.d_sae = 128;  // twice the features: latents die
  c.k = 4;
  c.steps = 600;
  c.batch = 64;
  c.lr = 3e-3;
  c.kind = sae_kind::topk;
  const sae plain = train_sae(X, 8192, c);
  EXPECT_GT(evaluate_sae(plain, Xt, 2048).dead_fraction, 0.1);
  c.aux_coef = 1.0 / 32;
  c.dead_steps = c.steps;  // no latent can be dead for longer than training: AuxK never acts
  EXPECT_EQ(train_sae(X, 8192, c).W_dec, plain.W_dec);
  c.dead_steps = 50;
  EXPECT_NE(train_sae(X, 8192, c).W_dec, plain.W_dec);
  c.aux_coef = 0;
  c.steps = 2000;
  c.kind = sae_kind::batchtopk;
  const sae bt = train_sae(X, 8192, c);
  const sae_metrics mb = evaluate_sae(bt, Xt, 2048);
  EXPECT_GT(bt.threshold, 0);
  EXPECT_GT(mb.l0, 0.5 * static_cast<double>(c.k));
  EXPECT_LT(mb.l0, 2.0 * static_cast<double>(c.k));
  EXPECT_GT(mb.explained_variance, 0.8);
}

TEST(sae_batch, variants_parse_and_bad_ones_name_the_key) {
  const auto v = parse_sae_variants("topk  batchtopk+auxk l1");
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[1].name, "batchtopk_auxk");
  EXPECT_TRUE(v[1].auxk);
  EXPECT_EQ(v[1].kind, sae_kind::batchtopk);
  EXPECT_FALSE(v[2].auxk);
  try {
    parse_sae_variants("topk jumprelu");
    FAIL() << "no error";
  } catch (const tasks::param_error& e) {
    EXPECT_EQ(e.key(), "kinds");
    EXPECT_NE(std::string(e.what()).find("'jumprelu'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_sae_variants("topk topk"), tasks::param_error);
  EXPECT_THROW(parse_sae_variants(" "), tasks::param_error);
  EXPECT_THROW(parse_sae_kind("jumprelu"), lmlab::error);
}

class sae_splice : public ::testing::TestWithParam<std::string> {};

TEST_P(sae_splice, exact_reconstruction_scores_one_and_zeros_score_zero) {
  models::lm_config mc = lmlab::testing::small_lm(11, 8, 2, 2, 16);
  mc.pattern = GetParam();
  mc.init_std = 0.2;
  auto model = models::make_model(mc, 3);
  model->eval();
  std::vector<std::int32_t> in = {1, 4, 2, 7, 3, 9, 5, 0, 6, 2, 8, 1}, tg = {4, 2, 7, 3, 9, 5, 0, 6, 2, 8, 1, 3};
  const tensor ids = tensor::from<std::int32_t>({2, 6}, std::span<const std::int32_t>(in));
  const tensor tgt = tensor::from<std::int32_t>({2, 6}, std::span<const std::int32_t>(tg));
  const std::string hook = "blocks.1.hook_resid_pre";
  std::int64_t C = 0;
  const auto rows = hook_rows(*model, ids, hook, &C);
  EXPECT_EQ(C, 8);
  EXPECT_EQ(rows.size(), 12u * 8u);
  // ReLU latents +x_i and -x_i with decoder rows e_i and -e_i: x_hat = ReLU(x) - ReLU(-x) = x.
  sae s;
  s.kind = sae_kind::l1;
  s.d_in = C;
  s.d_sae = 2 * C;
  s.b_enc.assign(16, 0.0);
  s.b_dec.assign(8, 0.0);
  s.W_enc.assign(16 * 8, 0.0);
  for (std::int64_t i = 0; i < C; ++i) {
    s.W_enc[static_cast<std::size_t>(i * C + i)] = 1;
    s.W_enc[static_cast<std::size_t>((C + i) * C + i)] = -1;
  }
  s.W_dec = s.W_enc;
  const sae_ce exact = sae_ce_scores(*model, ids, tgt, hook, s);
  EXPECT_NEAR(exact.sae, exact.clean, 1e-5);
  EXPECT_GT(std::abs(exact.ablation - exact.clean), 1e-3) << "zero ablation should change the loss";
  EXPECT_NEAR(exact.score, 1.0, 1e-3);
  EXPECT_DOUBLE_EQ(exact.score, ce_loss_score(exact.clean, exact.sae, exact.ablation));
  // A decoder of zeros (and b_dec 0) outputs the ablation exactly.
  std::fill(s.W_dec.begin(), s.W_dec.end(), 0.0);
  const sae_ce zero = sae_ce_scores(*model, ids, tgt, hook, s);
  EXPECT_DOUBLE_EQ(zero.sae, zero.ablation);
  EXPECT_DOUBLE_EQ(zero.score, 0.0);
  sae wrong = s;
  wrong.d_in = 4;
  EXPECT_THROW(sae_ce_scores(*model, ids, tgt, hook, wrong), lmlab::error);
}

INSTANTIATE_TEST_SUITE_P(mixers, sae_splice, ::testing::Values("AA", "MM"));
