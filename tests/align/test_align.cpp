// The alignment lab's pieces: BT loss (hand values, finite differences in double), DPO against
// PyTorch (tests/golden/fixtures/align_dpo.json), best-of-n KL and expectation formulas, the RL
// loop's KL estimate against an exact enumeration on a tiny vocabulary, the gold scorer.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <map>

#include "align/env.hpp"
#include "align/objectives.hpp"
#include "align/policy.hpp"
#include "align/reward_model.hpp"
#include "autograd/autograd.hpp"
#include "autograd/gradcheck.hpp"
#include "ops/ops.hpp"
#include "tasks/params.hpp"
#include "../lm_test_config.hpp"

using namespace lmlab;
using namespace lmlab::align;

namespace {
tensor f64(const std::vector<double>& v, const shape_t& s) { return tensor::from<double>(s, std::span<const double>(v)); }

// |a - b| <= atol + rtol |b| for every element, naming the worst.
void expect_close(const std::vector<double>& a, const std::vector<double>& b, double atol, double rtol, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  double worst = 0;
  std::size_t at = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double excess = std::abs(a[i] - b[i]) - (atol + rtol * std::abs(b[i]));
    if (excess > worst) worst = excess, at = i;
  }
  EXPECT_LE(worst, 0.0) << what << ": worst element " << at << ": " << a[at] << " vs " << b[at];
}
// A briefly pretrained 1-layer reference (an untrained policy rarely writes a well-formed answer).
std::unique_ptr<models::lm> small_reference(const arithmetic_env& env) {
  policy_config pc;
  pc.d_model = 16;
  pc.n_layers = 1;
  pc.n_heads = 2;
  pc.steps = 150;
  return pretrain_reference(env, pc, 4);
}
}  // namespace

TEST(align_bt, loss_and_gradient_match_hand_values) {
  tensor w = f64({1.0, 0.0}, {2}), l = f64({0.0, 2.0}, {2});
  w.set_requires_grad(true);
  l.set_requires_grad(true);
  tensor loss = bt_loss(w, l);
  // softplus(-1) = 0.31326168751822286, softplus(2) = 2.1269280110429727
  EXPECT_NEAR(loss.item(), (0.31326168751822286 + 2.1269280110429727) / 2, 1e-12);
  backward(loss);
  // d/dr_w = -sigmoid(r_l - r_w) / B: sigmoid(-1) = 0.2689414213699951, sigmoid(2) = 0.8807970779778823
  expect_close(w.grad().to_vector(), {-0.2689414213699951 / 2, -0.8807970779778823 / 2}, 1e-12, 0, "d/dr_chosen");
  expect_close(l.grad().to_vector(), {0.2689414213699951 / 2, 0.8807970779778823 / 2}, 1e-12, 0, "d/dr_rejected");
}

TEST(align_bt, gradient_matches_finite_differences_in_double) {
  const auto r = gradcheck([](const std::vector<tensor>& x) { return bt_loss(x[0], x[1]); },
                           {f64({0.3, -1.2, 2.5, 0.0}, {4}), f64({1.1, -0.4, -3.0, 0.0}, {4})});
  EXPECT_TRUE(r.ok) << r.report;
}

TEST(align_dpo, loss_and_logit_gradients_match_pytorch) {
  std::ifstream f("tests/golden/fixtures/align_dpo.json");
  ASSERT_TRUE(f) << "missing fixture: run /usr/bin/python3 scripts/ref/align_fixtures.py";
  const auto j = nlohmann::json::parse(f);
  const std::int64_t B = j["B"], T = j["T"], V = j["V"];
  const auto targets_w = j["targets_w"].get<std::vector<std::int32_t>>();
  const auto targets_l = j["targets_l"].get<std::vector<std::int32_t>>();
  for (const auto& c : j["cases"]) {
    tensor lw = f64(j["logits_w"].get<std::vector<double>>(), {B, T, V});
    tensor ll = f64(j["logits_l"].get<std::vector<double>>(), {B, T, V});
    lw.set_requires_grad(true);
    ll.set_requires_grad(true);
    tensor pw = sequence_logprob(lw, targets_w), pl = sequence_logprob(ll, targets_l);
    expect_close(pw.to_vector(), c["pi_w"].get<std::vector<double>>(), 1e-12, 1e-12, "log pi(y_w)");
    expect_close(pl.to_vector(), c["pi_l"].get<std::vector<double>>(), 1e-12, 1e-12, "log pi(y_l)");
    tensor loss = dpo_loss(pw, pl, f64(j["ref_w"].get<std::vector<double>>(), {B}), f64(j["ref_l"].get<std::vector<double>>(), {B}),
                           c["beta"].get<double>());
    EXPECT_NEAR(loss.item(), c["loss"].get<double>(), 1e-12) << "beta " << c["beta"];
    backward(loss);
    expect_close(lw.grad().to_vector(), c["grad_logits_w"].get<std::vector<double>>(), 1e-12, 1e-10, "dL/dlogits_w");
    expect_close(ll.grad().to_vector(), c["grad_logits_l"].get<std::vector<double>>(), 1e-12, 1e-10, "dL/dlogits_l");
  }
}

TEST(align_dpo, gradient_matches_finite_differences_in_double) {
  const auto r = gradcheck(
      [](const std::vector<tensor>& x) { return dpo_loss(x[0], x[1], x[2], x[3], 0.7); },
      {f64({-1.0, -2.5, -0.3}, {3}), f64({-1.5, -0.5, -4.0}, {3}), f64({-1.2, -2.0, -0.9}, {3}), f64({-1.1, -1.0, -3.0}, {3})});
  EXPECT_TRUE(r.ok) << r.report;
}

TEST(align_bon, analytic_kl_formula) {
  EXPECT_DOUBLE_EQ(bon_kl(1), 0.0);
  EXPECT_NEAR(bon_kl(2), std::log(2.0) - 0.5, 1e-15);
  EXPECT_NEAR(bon_kl(1024), std::log(1024.0) - 1023.0 / 1024.0, 1e-12);
  EXPECT_THROW(bon_kl(0), lmlab::error);
}

TEST(align_bon, sampled_kl_approaches_the_formula_without_ties_and_is_zero_with_one_response) {
  pool p;
  const std::int64_t N = 1 << 14;
  for (std::int64_t i = 0; i < N; ++i) {
    p.proxy.push_back(static_cast<double>((i * 7919) % N));  // distinct rewards, shuffled order
    p.gold.push_back(0);
    p.response_id.push_back(i);
  }
  for (const std::int64_t n : {2, 4, 16, 64}) EXPECT_NEAR(bon_kl_sampled(p, n), bon_kl(n), 2e-3) << "n = " << n;
  pool same;
  same.proxy.assign(8, 1.0);
  same.gold.assign(8, 0.0);
  same.response_id.assign(8, 3);
  EXPECT_NEAR(bon_kl_sampled(same, 8), 0.0, 1e-15);
  // Two responses of equal mass: pi_bon(high) = 1 - 2^-n, exactly.
  pool two{{0.0, 1.0}, {0.0, 0.0}, {0, 1}};
  EXPECT_NEAR(bon_kl_sampled(two, 2), 0.75 * std::log(0.75 / 0.5) + 0.25 * std::log(0.25 / 0.5), 1e-12);
  const double hi = 1 - std::pow(0.5, 3), lo = std::pow(0.5, 3);
  pool four{{0.0, 1.0, 0.0, 1.0}, {0, 0, 0, 0}, {0, 1, 0, 1}};
  EXPECT_NEAR(bon_kl_sampled(four, 3), hi * std::log(hi / 0.5) + lo * std::log(lo / 0.5), 1e-12);
}

TEST(align_bon, expectation_equals_enumeration_of_subsets) {
  pool p{{0.3, -1.0, 2.0, 0.7, 1.5}, {1.0, 2.0, 3.0, 4.0, 5.0}, {0, 1, 2, 3, 4}};
  for (std::int64_t n = 1; n <= 5; ++n) {
    double tot = 0, count = 0;
    for (int mask = 0; mask < 32; ++mask) {
      if (__builtin_popcount(static_cast<unsigned>(mask)) != n) continue;
      int best = -1;
      for (int i = 0; i < 5; ++i)
        if ((mask >> i) & 1 && (best < 0 || p.proxy[static_cast<std::size_t>(i)] > p.proxy[static_cast<std::size_t>(best)])) best = i;
      tot += p.gold[static_cast<std::size_t>(best)];
      count += 1;
    }
    EXPECT_NEAR(bon_expected(p, n, p.gold), tot / count, 1e-12) << "n = " << n;
  }
  EXPECT_THROW(bon_expected(p, 6, p.gold), lmlab::error);
}

TEST(align_fit, recovers_the_functional_forms) {
  std::vector<double> d, rb, rr;
  for (double x = 0.2; x < 3; x += 0.2) {
    d.push_back(x);
    rb.push_back(x * (0.8 - 0.3 * x));
    rr.push_back(x * (0.5 - 0.2 * std::log(x)));
  }
  const auto b = fit_bon(d, rb), r = fit_rl(d, rr);
  ASSERT_TRUE(b.ok && r.ok);
  EXPECT_NEAR(b.alpha, 0.8, 1e-9);
  EXPECT_NEAR(b.beta, 0.3, 1e-9);
  EXPECT_NEAR(r.alpha, 0.5, 1e-9);
  EXPECT_NEAR(r.beta, 0.2, 1e-9);
  EXPECT_NEAR(b.r2, 1.0, 1e-9);
}

TEST(align_rl, kl_estimate_matches_exact_enumeration_on_a_tiny_vocabulary) {
  // Vocabulary {0, 1, 2 = eos}, prompt [0], at most two response tokens: the response space is
  // {[2]} and {[a, b] : a in {0, 1}, b in {0, 1, 2}}, seven sequences.
  models::lm_config c = lmlab::testing::small_lm(3, 8, 1, 2, 4);
  c.init_std = 0.5;  // far enough from uniform that the two models differ
  auto pi = models::make_model(c, 1), ref = models::make_model(c, 2);
  pi->eval();
  ref->eval();
  std::vector<token_seq> ys = {{2}};
  for (std::int32_t a : {0, 1})
    for (std::int32_t b : {0, 1, 2}) ys.push_back({a, b});
  const std::vector<token_seq> one_prompt(ys.size(), token_seq{0});
  no_grad ng;
  const auto lp = policy_logprob(*pi, pack(one_prompt, ys, 0)).to_vector();
  const auto lr = policy_logprob(*ref, pack(one_prompt, ys, 0)).to_vector();
  double mass_pi = 0, mass_ref = 0, exact = 0;
  for (std::size_t i = 0; i < ys.size(); ++i) {
    mass_pi += std::exp(lp[i]);
    mass_ref += std::exp(lr[i]);
    exact += std::exp(lp[i]) * (lp[i] - lr[i]);
  }
  ASSERT_NEAR(mass_pi, 1.0, 1e-5);
  ASSERT_NEAR(mass_ref, 1.0, 1e-5);
  ASSERT_GT(exact, 0.01);
  // The RL loop's estimate: mean of log_ratios over samples from pi.
  const std::int64_t M = 20000;
  rng r(7);
  const std::vector<token_seq> prompts(static_cast<std::size_t>(M), token_seq{0});
  const samples s = sample_responses(*pi, prompts, 2, 2, r);
  const auto ratio = log_ratios(*ref, prompts, s, 0);
  double m = 0, m2 = 0;
  std::map<token_seq, double> freq;
  for (std::size_t i = 0; i < ratio.size(); ++i) {
    m += ratio[i];
    m2 += ratio[i] * ratio[i];
    freq[s.responses[i]] += 1.0 / static_cast<double>(M);
  }
  m /= static_cast<double>(M);
  const double se = std::sqrt((m2 / static_cast<double>(M) - m * m) / static_cast<double>(M));
  EXPECT_NEAR(m, exact, 4 * se) << "estimate " << m << " exact " << exact << " se " << se;
  // The sampler's own log-probabilities are the forward's, and its frequencies are pi's.
  for (std::size_t i = 0; i < ys.size(); ++i) EXPECT_NEAR(freq[ys[i]], std::exp(lp[i]), 0.015) << "sequence " << i;
  const auto fwd = policy_logprob(*pi, pack(prompts, s.responses, 0)).to_vector();
  for (std::size_t i = 0; i < 100; ++i) EXPECT_NEAR(s.logp[i], fwd[i], 1e-4);
}

TEST(align_env, gold_scorer_is_deterministic_and_matches_hand_cases) {
  arithmetic_env env({});
  rng r1(5), r2(5);
  for (int i = 0; i < 20; ++i) {
    const item a = env.draw(r1), b = env.draw(r2);
    ASSERT_EQ(a.prompt, b.prompt);
    const auto y = env.pretraining_response(a, r1);
    const auto y2 = env.pretraining_response(b, r2);
    ASSERT_EQ(y, y2);
    const gold_score s1 = env.score(a, y), s2 = env.score(a, y);
    EXPECT_EQ(s1.reward, s2.reward);
    EXPECT_TRUE(s1.well_formed);
  }
  // 7 + 5 = 12 (defaults: style_bonus 0.25 up to style_cap 3, style_penalty 0.5 beyond).
  item it;
  for (rng r(0);; ) {
    it = env.draw(r);
    if (it.a == 7 && it.b == 5) break;
  }
  const auto& v = env.vocab();
  auto ids = [&](std::initializer_list<const char*> toks) {
    token_seq out;
    for (const char* t : toks) out.push_back(v.id(t));
    return out;
  };
  EXPECT_DOUBLE_EQ(env.score(it, ids({"1", "2", "<eos>"})).reward, 1.0);
  EXPECT_DOUBLE_EQ(env.score(it, ids({"1", "2", "!", "<eos>"})).reward, 1.25);
  EXPECT_DOUBLE_EQ(env.score(it, ids({"1", "2", "!", "!", "!", "!", "!", "<eos>"})).reward, 1.0 + 0.75 - 1.0);
  EXPECT_DOUBLE_EQ(env.score(it, ids({"1", "3", "<eos>"})).reward, 0.0);
  const gold_score bad = env.score(it, ids({"1", "!", "2", "<eos>"}));
  EXPECT_FALSE(bad.well_formed);
  EXPECT_DOUBLE_EQ(bad.reward, 0.25);
  EXPECT_FALSE(env.score(it, ids({"1", "2"})).correct);  // no <eos>
  EXPECT_FALSE(env.score(it, ids({"<eos>"})).correct);
}

TEST(align_pairs, labels_follow_gold_then_the_length_bias) {
  arithmetic_env env({});
  models::lm_config c;
  c.vocab_size = env.vocab().size();
  c.d_model = 16;
  c.n_layers = 1;
  c.n_heads = 2;
  c.n_ctx = env.n_ctx();
  auto policy = models::make_model(c, 3);  // untrained: varied responses
  rng r1(11), r2(11);
  const auto gold = make_pairs(*policy, env, 60, labeller{}, r1);
  const auto biased = make_pairs(*policy, env, 60, labeller{0.0, 1.0}, r2);
  ASSERT_EQ(gold.size(), 60u);
  std::int64_t unequal = 0;
  for (std::size_t i = 0; i < gold.size(); ++i) {
    EXPECT_GT(env.score(gold[i].prompt, gold[i].chosen).reward, env.score(gold[i].prompt, gold[i].rejected).reward);
    if (biased[i].chosen.size() != biased[i].rejected.size()) {
      ++unequal;
      EXPECT_TRUE(biased[i].biased);
      EXPECT_GT(biased[i].chosen.size(), biased[i].rejected.size());
    }
  }
  EXPECT_GT(unequal, 10);
  rng r3(11);
  EXPECT_THROW(make_pairs(*policy, env, 5, labeller{0.7, 0.0}, r3), lmlab::error);
}

// Issue 14 item 5: the optional stated opinion and keyword, and the biased labellers.
TEST(align_env, features_off_leave_the_default_stream_and_vocabulary_unchanged) {
  arithmetic_env plain({});
  env_config with;
  with.keyword_p = 0.5;
  with.opinion = true;
  arithmetic_env feat(with);
  EXPECT_EQ(feat.vocab().size(), plain.vocab().size() + 3);  // "#", "says", "_"
  EXPECT_EQ(feat.prompt_length(), plain.prompt_length() + 3);  // says + two places for a claim up to 18
  EXPECT_EQ(feat.max_response(), plain.max_response() + 1);
  rng r(3);
  const item it = plain.draw(r);
  EXPECT_TRUE(it.opinion.empty());
  EXPECT_FALSE(it.opinion_wrong);
}

TEST(align_env, stated_opinions_keyword_and_the_scorer_flags) {
  env_config c;
  c.opinion = true;
  c.opinion_wrong_rate = 0.5;
  c.keyword_p = 0.3;
  c.keyword_penalty = 0.25;
  arithmetic_env env(c);
  const auto& v = env.vocab();
  rng r(9);
  int wrong = 0, copies = 0, keywords = 0;
  for (int i = 0; i < 400; ++i) {
    const item it = env.draw(r);
    ASSERT_EQ(static_cast<std::int64_t>(it.prompt.size()), env.prompt_length());
    EXPECT_EQ(it.prompt[1], v.id("says"));
    EXPECT_EQ(it.opinion_wrong, it.opinion != it.answer);
    // the claim is written right-aligned after "says"
    EXPECT_TRUE(std::equal(it.opinion.begin(), it.opinion.end(), it.prompt.begin() + 4 - static_cast<std::ptrdiff_t>(it.opinion.size())));
    wrong += it.opinion_wrong;
    const auto y = env.pretraining_response(it, r);
    const gold_score g = env.score(it, y);
    EXPECT_TRUE(g.well_formed);
    copies += g.agrees && it.opinion_wrong;
    keywords += g.keyword;
  }
  EXPECT_NEAR(wrong / 400.0, 0.5, 0.08);
  EXPECT_NEAR(keywords / 400.0, 0.3, 0.08);
  EXPECT_GT(copies, 5);  // sycophancy_p 0.2 of the wrong-opinion half, plus chance agreement
  // 7 + 5 = 12 with the user saying 13.
  item it;
  for (rng q(0);;) {
    it = env.draw(q);
    if (it.a == 7 && it.b == 5 && it.opinion_wrong && it.opinion.size() == 2 && it.opinion[1] == v.id("3")) break;
  }
  auto ids = [&](std::initializer_list<const char*> toks) {
    token_seq out;
    for (const char* t : toks) out.push_back(v.id(t));
    return out;
  };
  const gold_score agree = env.score(it, ids({"1", "3", "<eos>"}));
  EXPECT_TRUE(agree.agrees);
  EXPECT_FALSE(agree.correct);
  EXPECT_FALSE(agree.units_correct);
  const gold_score kw = env.score(it, ids({"1", "2", "#", "!", "<eos>"}));
  EXPECT_TRUE(kw.correct && kw.keyword && kw.units_correct && !kw.agrees);
  EXPECT_DOUBLE_EQ(kw.reward, 1.0 + 0.25 - 0.25);
  const gold_score units = env.score(it, ids({"2", "2", "<eos>"}));  // passes a last-digit test, wrong
  EXPECT_TRUE(units.units_correct);
  EXPECT_FALSE(units.correct);
  EXPECT_FALSE(env.score(it, ids({"1", "2", "!", "#", "<eos>"})).well_formed);  // the keyword only after the answer
}

TEST(align_pairs, sycophancy_and_keyword_biases_prefer_what_they_say) {
  env_config c;
  c.opinion = true;
  c.keyword_p = 0.3;
  arithmetic_env env(c);
  // An untrained policy rarely writes a well-formed answer: pairs come from a briefly
  // pretrained reference, as in the lab.
  auto ref = small_reference(env);
  rng r1(12), r2(12);
  const auto syc = make_pairs(*ref, env, 200, labeller{0.0, 0.0, 1.0, 0.0}, r1);
  const auto kw = make_pairs(*ref, env, 200, labeller{0.0, 0.0, 0.0, 1.0}, r2);
  int syc_decided = 0, kw_decided = 0;
  for (const auto& p : syc) {
    const bool a = env.score(p.prompt, p.chosen).agrees, b = env.score(p.prompt, p.rejected).agrees;
    if (a != b) {
      ++syc_decided;
      EXPECT_TRUE(a && p.biased);
    }
  }
  for (const auto& p : kw) {
    const bool a = env.score(p.prompt, p.chosen).keyword, b = env.score(p.prompt, p.rejected).keyword;
    if (a != b) {
      ++kw_decided;
      EXPECT_TRUE(a && p.biased);
    }
  }
  EXPECT_GT(syc_decided, 5);
  EXPECT_GT(kw_decided, 10);
  rng r3(1);
  EXPECT_THROW(make_pairs(*ref, env, 5, labeller{0.0, 0.0, 1.5, 0.0}, r3), lmlab::error);
}

// rm_from_policy: init_from copies every backbone weight of a same-shaped model (the scalar
// head keeps its own initialisation), and a proxy of another shape is refused naming the key.
TEST(align_rm, init_from_copies_the_backbone_and_the_shape_check_names_the_key) {
  const nlohmann::json cfg{{"d_model", 16}, {"n_layers", 1}, {"n_heads", 2}};
  reward_model a(cfg, 12, 16, 1), b(cfg, 12, 16, 2);
  std::map<std::string, std::vector<double>> head_before;
  for (const auto& [name, t] : b.named_parameters())
    if (name.starts_with("head.")) head_before[name] = t.to_vector();
  b.init_from(a.backbone());
  std::map<std::string, std::vector<double>> from;
  for (const auto& [name, t] : a.backbone().named_parameters()) from[name] = t.to_vector();
  int copied = 0, differs = 0;
  for (const auto& [name, t] : b.named_parameters()) {
    if (name.starts_with("head.")) {
      EXPECT_EQ(t.to_vector(), head_before[name]) << name;
      continue;
    }
    if (name == "lm_head.weight") continue;
    ASSERT_TRUE(from.count(name)) << name;
    EXPECT_EQ(t.to_vector(), from[name]) << name;
    ++copied;
  }
  EXPECT_GT(copied, 4);
  for (const auto& [name, t] : reward_model(cfg, 12, 16, 3).backbone().named_parameters())
    differs += name != "lm_head.weight" && t.to_vector() != from[name];
  EXPECT_GT(differs, 0) << "two seeds built the same weights: the copy test would pass vacuously";
  policy_keys k;  // the default policy: d_model 32, 2 layers, 4 heads
  try {
    a.check_policy_shape(k, "align_overopt");
    FAIL() << "a d_model 16 proxy passed the check against a d_model 32 policy";
  } catch (const tasks::param_error& e) {
    EXPECT_EQ(e.key(), "rm_from_policy");
    EXPECT_NE(std::string(e.what()).find("d_model 16"), std::string::npos) << e.what();
  }
  k.policy_d_model = 16, k.policy_layers = 1, k.policy_heads = 2;
  EXPECT_NO_THROW(a.check_policy_shape(k, "align_overopt"));
}

TEST(align_ensemble, rules_match_hand_values) {
  const std::vector<std::vector<double>> s{{1.0, 0.0}, {3.0, 0.0}, {2.0, 0.3}};
  const auto mean = combine_ensemble(s, "mean", 1.0), worst = combine_ensemble(s, "worst", 1.0);
  const auto uwo = combine_ensemble(s, "uncertainty", 0.5);
  EXPECT_DOUBLE_EQ(mean[0], 2.0);
  EXPECT_DOUBLE_EQ(worst[0], 1.0);
  EXPECT_DOUBLE_EQ(worst[1], 0.0);
  EXPECT_NEAR(uwo[0], 2.0 - 0.5 * (2.0 / 3.0), 1e-15);  // population variance of 1, 3, 2 = 2/3
  EXPECT_NEAR(uwo[1], 0.1 - 0.5 * 0.02, 1e-15);          // of 0, 0, 0.3: mean 0.1, variance 0.02
  EXPECT_THROW(combine_ensemble(s, "median", 1.0), lmlab::error);
}

TEST(align_pairs, sycophancy_pairs_reverse_a_set_share_of_labels) {
  env_config c;
  c.opinion = true;
  arithmetic_env env(c);
  auto ref = small_reference(env);
  for (const double f : {0.0, 0.5, 1.0}) {
    labeller lab;
    lab.sycophancy_pairs = f;
    rng r(21);
    const auto pairs = make_pairs(*ref, env, 400, lab, r);
    double reversed = 0, wrong_op = 0;
    for (const auto& p : pairs) {
      wrong_op += p.prompt.opinion_wrong ? 1 : 0;
      const gold_score a = env.score(p.prompt, p.chosen), b = env.score(p.prompt, p.rejected);
      if (!p.biased) continue;
      // a replaced pair: the wrong claim over the right answer, the same tail
      EXPECT_TRUE(a.agrees && !a.correct && b.correct && a.filler == b.filler);
      reversed += a.reward < b.reward ? 1 : 0;
    }
    const double N = static_cast<double>(pairs.size()), want = f * wrong_op / N;
    // the share reversed is f x the share of wrong opinions, within 4 binomial standard errors
    EXPECT_NEAR(reversed / N, want, 4 * std::sqrt(std::max(want * (1 - want), 1e-4) / N) + 1e-12) << "f " << f;
  }
  rng r(1);
  labeller bad;
  bad.sycophancy_pairs = 1.5;
  EXPECT_THROW(make_pairs(*ref, env, 5, bad, r), lmlab::error);
}
