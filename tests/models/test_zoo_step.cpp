// Step mode beyond plain generation: Mixture-of-Depths sampling with the causal router decision
// r > 0 (Raposo et al. 2024 sec. 3.5) equals the forward wherever that decision agrees with the
// top-k, and differs where it does not; the predictor's BCE by hand and gradient-checked in f64,
// reaching only the router and teaching it the top-k; hooks fire in step mode with the
// forward's activations at each position (and patches act the same); MoE routes without
// capacity outside training, so step equals the evaluation forward at any capacity_factor.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "autograd/autograd.hpp"
#include "autograd/gradcheck.hpp"
#include "core/rng.hpp"
#include "hooks/hooks.hpp"
#include "models/lm.hpp"
#include "models/sample.hpp"
#include "ops/ops.hpp"
#include "zoo_test_util.hpp"

using namespace lmlab;
using models::lm;
using models::lm_config;
using namespace zoo_test;

namespace {

tensor full_logits(lm& m, const tensor& ids) {
  no_grad ng;
  return m.forward(ids);
}

// A MoD model whose every block is routed and whose routing is decided by hand: channel 0 of
// the embedding is +1 for even token ids and -1 for odd ones, the router reads 4 * channel 0,
// and no block writes into channel 0, so r = +4 for even tokens and -4 for odd ones in every
// block. A sequence with exactly k = ceil(rho T) even tokens then has top-k = {r > 0}.
lm_config hand_routed_config() {
  lm_config c = tiny("AM");
  c.pos_encoding = "rope";  // positions inside a routed block are ranks among its kept tokens
  c.init_std = 0.3;         // O(1) logits, so a wrong step shows
  c.mod_capacity = 0.5;
  c.mod_every = 1;
  return c;
}

void set_hand_routing(lm& m) {
  for (auto& [name, p] : m.named_parameters()) {
    float* d = p.data<float>();
    if (name == "wte.weight") {
      for (std::int64_t v = 0; v < p.size(0); ++v) d[v * p.size(1)] = v % 2 == 0 ? 1.0f : -1.0f;
    } else if (name.ends_with("mod_router.weight")) {
      for (std::int64_t i = 0; i < p.numel(); ++i) d[i] = i == 0 ? 4.0f : 0.0f;
    } else if (name.ends_with(".w_o") || name.ends_with(".w_out") || name.ends_with("out_proj.weight")) {
      for (std::int64_t j = 0; j < p.size(1); ++j) d[j] = 0.0f;  // row 0: nothing written into channel 0
    } else if (name.ends_with(".b_o") || name.ends_with(".b_out")) {
      d[0] = 0.0f;
    }
  }
}

}  // namespace

TEST(zoo_step, mod_step_equals_the_forward_where_the_causal_decision_agrees_with_the_top_k) {
  lm m(hand_routed_config(), 3);
  set_hand_routing(m);
  m.eval();
  ASSERT_TRUE(m.supports_step());
  // Five even ids of ten in each row (k = ceil(0.5 * 10) = 5), at different positions, so the
  // two sequences keep different tokens and their states advance differently.
  tensor ids = tensor::from<std::int32_t>({2, 10}, {2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 3, 0, 5, 12, 4, 7, 9, 6, 8});
  tensor full = full_logits(m, ids);
  auto mt = m.last_metrics();
  EXPECT_DOUBLE_EQ(mt["mod_processed_fraction"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(mt["mod_predictor_accuracy"].get<double>(), 1.0);
  EXPECT_FALSE(mt.contains("mod_aux_loss"));  // evaluation forward
  // Inside a routed block, step-mode hooks fire once per processed token with batch 1.
  std::vector<shape_t> resid_shapes;
  std::vector<double> weights;
  tensor step;
  {
    hooks::hook_scope scope(m);
    scope.add("blocks.1.hook_resid_post", [&](const tensor& x, const nn::hook_point&) {
      resid_shapes.push_back(x.shape());
      return tensor{};
    });
    scope.add("blocks.1.hook_mod_weights", [&](const tensor& x, const nn::hook_point&) {
      weights.push_back(x.item());
      return tensor{};
    });
    step = step_logits(m, ids);
  }
  EXPECT_EQ(resid_shapes, std::vector<shape_t>(10, shape_t{1, 1, 16}));  // 5 kept tokens in each of 2 rows
  EXPECT_EQ(weights, std::vector<double>(10, 4.0));
  const double d = max_diff(step, full);
  EXPECT_LT(d, 2e-5);
  EXPECT_GT(max_diff(full, tensor::zeros(full.shape())), 0.5);
  // The routed blocks matter: without them the logits differ.
  lm_config dense = hand_routed_config();
  dense.mod_capacity = 0;
  lm plain(dense, 3);
  plain.eval();
  EXPECT_GT(max_diff(full_logits(plain, ids), full), 1e-2);
}

TEST(zoo_step, mod_step_differs_where_the_causal_decision_disagrees) {
  lm m(hand_routed_config(), 3);
  set_hand_routing(m);
  m.eval();
  // Seven even ids of ten: r > 0 for seven tokens, but the forward keeps only the first five
  // of them (ties go to the earlier position), so from position 6 on the two differ.
  tensor ids = tensor::from<std::int32_t>({1, 10}, {2, 4, 6, 8, 10, 12, 0, 1, 3, 5});
  tensor full = full_logits(m, ids);
  EXPECT_DOUBLE_EQ(m.last_metrics()["mod_predictor_accuracy"].get<double>(), 0.8);
  tensor step = step_logits(m, ids);
  EXPECT_LT(max_diff(step.narrow_raw(1, 0, 5).contiguous_raw(), full.narrow_raw(1, 0, 5).contiguous_raw()), 2e-5);
  EXPECT_GT(max_diff(step.narrow_raw(1, 5, 1).contiguous_raw(), full.narrow_raw(1, 5, 1).contiguous_raw()), 1e-3);
  // Sampling runs in step mode on a MoD model.
  auto out = models::generate(m, {2, 3, 4}, {.temperature = 0, .max_new_tokens = 5});
  EXPECT_EQ(out.size(), 5u);
}

TEST(zoo_step, mod_predictor_loss_by_hand_and_gradcheck_f64) {
  // k = ceil(0.5 * 4) = 2: tokens 0 and 2 are the top-k, targets (1, 0, 1, 0).
  tensor r = tensor::from<double>({1, 4}, {2.0, -1.0, 0.5, -3.0});
  const mod_routing route = mod_route(r, 0.5);
  const double sp[4] = {std::log1p(std::exp(2.0)), std::log1p(std::exp(-1.0)), std::log1p(std::exp(0.5)),
                        std::log1p(std::exp(-3.0))};
  const double expect = (sp[0] - 2.0 + sp[1] + sp[2] - 0.5 + sp[3]) / 4;
  EXPECT_NEAR(models::mod_predictor_loss(r, route).item(), expect, 1e-14);
  // Gradients in f64 against central differences (the routing is fixed: a discrete choice).
  rng g(4);
  std::vector<double> v(2 * 7);
  for (auto& x : v) x = 6 * g.uniform() - 3;
  tensor x0 = tensor::from<double>({2, 7}, std::span<const double>(v));
  const mod_routing fixed = mod_route(x0, 0.3);
  auto res = gradcheck([&](const std::vector<tensor>& in) { return models::mod_predictor_loss(in[0], fixed); }, {x0});
  EXPECT_TRUE(res.ok) << res.report;
  EXPECT_THROW(models::mod_predictor_loss(tensor::zeros({2, 3}, dtype::f64), route), error);
}

TEST(zoo_step, mod_aux_loss_reaches_only_the_router_and_teaches_it_the_top_k) {
  lm_config c = tiny("AA");
  c.mod_capacity = 0.25;
  c.mod_every = 2;  // block 1 is routed
  c.mod_aux_loss_coef = 0.5;
  lm m(c, 1);
  m.train();
  tensor in = ids_of(2, 12, 13), tg = ids_of(2, 12, 13, 2);
  const double with_aux = m.loss(in, tg).item();
  auto mt = m.last_metrics();
  ASSERT_TRUE(mt.contains("mod_aux_loss"));
  const double aux = mt["mod_aux_loss"].get<double>();
  EXPECT_GT(aux, 0.0);
  EXPECT_NEAR(with_aux, m.causal_lm::loss(in, tg).item() + 0.5 * aux, 1e-5);
  // The BCE's gradient reaches the router's weights and nothing else (its input is detached).
  m.forward(in);
  backward(m.blocks[1].mod_aux);
  for (auto& [name, p] : m.named_parameters()) {
    double s = 0;
    if (p.grad().defined())
      for (double x : p.grad().to_vector()) s += std::abs(x);
    if (name == "blocks.1.mod_router.weight") EXPECT_GT(s, 0.0) << name;
    else EXPECT_EQ(s, 0.0) << name;
  }
  // Gradient descent on the BCE alone makes r > 0 agree with the top-k.
  tensor w = m.parameter("blocks.1.mod_router.weight");
  double first_acc = 0, first_bce = 0, acc = 0, bce = 0;
  for (int it = 0; it < 300; ++it) {
    m.zero_grad();
    m.forward(in);
    bce = m.blocks[1].mod_aux.item();
    acc = m.last_metrics()["mod_predictor_accuracy"].get<double>();
    if (it == 0) first_acc = acc, first_bce = bce;
    backward(m.blocks[1].mod_aux);
    const auto gw = w.grad().to_vector();
    float* d = w.data<float>();
    for (std::size_t i = 0; i < gw.size(); ++i) d[i] -= static_cast<float>(20.0 * gw[i]);
  }
  EXPECT_LT(bce, first_bce);
  EXPECT_GT(acc, first_acc);
  EXPECT_GE(acc, 0.95);
  // Validation names the key.
  nlohmann::json j = {{"vocab_size", 13}, {"mod_aux_loss_coef", -1}};
  std::string msg;
  try {
    models::make_model(j);
  } catch (const error& e) {
    msg = e.what();
  }
  EXPECT_EQ(msg, "model.mod_aux_loss_coef: must be a finite number >= 0, got -1");
}

TEST(zoo_step, hooks_fire_in_step_mode_with_the_forwards_activation_at_each_position) {
  struct cfg_case {
    const char* name;
    lm_config c;
  };
  lm_config hybrid = tiny("AMRWT");
  hybrid.pos_encoding = "rope";
  lm_config moe = tiny("AA");
  moe.pos_encoding = "learned";
  moe.ffn = "moe";
  moe.n_experts = 3;
  moe.top_k = 2;
  lm_config sinus = tiny("A");
  sinus.pos_encoding = "sinusoidal";
  for (auto& [name, c] : std::vector<cfg_case>{{"hybrid", hybrid}, {"moe", moe}, {"sinusoidal", sinus}}) {
    c.init_std = 0.3;
    lm m(c, 5);
    m.eval();
    const std::int64_t B = 2, T = 7;
    tensor ids = ids_of(B, T, 13);
    hooks::activation_cache full;
    {
      hooks::hook_scope scope(m);
      scope.cache_into(full, hooks::all_names);
      full_logits(m, ids);
    }
    std::map<std::string, std::vector<tensor>> steps;
    {
      hooks::hook_scope scope(m);
      for (nn::hook_point* hp : m.hook_points())
        scope.add(hp->name(), [&steps](const tensor& x, const nn::hook_point& where) {
          steps[where.name()].push_back(x.contiguous_raw().clone_raw());
          return tensor{};
        });
      step_logits(m, ids);
    }
    ASSERT_EQ(steps["blocks.0.hook_resid_post"].size(), static_cast<std::size_t>(T)) << name;  // once per step
    int compared = 0;
    for (const auto& [hook, acts] : steps) {
      if (hook.find(".experts.") != std::string::npos) continue;  // expert MLPs see the tokens routed to them
      ASSERT_TRUE(full.count(hook)) << name << " " << hook;
      const tensor& f = full.at(hook);
      if (hook.ends_with("hook_state")) {  // the state after the last token
        EXPECT_LT(max_diff(acts.back(), f), 1e-5) << name << " " << hook;
        ++compared;
        continue;
      }
      ASSERT_EQ(acts.size(), static_cast<std::size_t>(T)) << name << " " << hook;
      for (std::int64_t t = 0; t < T; ++t) {
        const tensor& a = acts[static_cast<std::size_t>(t)];
        tensor want;
        if (hook.ends_with("hook_pattern")) {  // (B, H, 1, t+1): row t over the keys so far
          want = f.narrow_raw(2, t, 1).narrow_raw(3, 0, t + 1).contiguous_raw();
        } else if (hook.ends_with("hook_router_probs")) {  // (B, E): rows b*T + t of (B*T, E)
          const std::int64_t E = f.size(1);
          want = tensor::zeros({B, E});
          for (std::int64_t b = 0; b < B; ++b) want.narrow_raw(0, b, 1).copy_from(f.narrow_raw(0, b * T + t, 1));
        } else {  // (B, 1, ...) at position t of (B, T, ...)
          want = f.narrow_raw(1, t, 1).contiguous_raw();
        }
        ASSERT_EQ(a.shape(), want.shape()) << name << " " << hook << " t=" << t;
        EXPECT_LT(max_diff(a, want), 2e-5) << name << " " << hook << " t=" << t;
      }
      ++compared;
    }
    std::size_t expected = 0;  // every hook the forward fired, expert MLPs aside
    for (const auto& [hook, act] : full) expected += hook.find(".experts.") == std::string::npos;
    EXPECT_EQ(static_cast<std::size_t>(compared), expected) << name;
    // A patch acts the same in both modes: steering the residual stream of block 0.
    tensor dir = tensor::zeros({16});
    dir.data<float>()[3] = 1.0f;
    tensor steered_full, steered_step;
    {
      hooks::hook_scope scope(m);
      scope.add("blocks.0.hook_resid_post", hooks::add_vector(dir, 2.0));
      steered_full = full_logits(m, ids);
      steered_step = step_logits(m, ids);
    }
    EXPECT_LT(max_diff(steered_step, steered_full), 2e-5) << name;
    EXPECT_GT(max_diff(steered_full, full_logits(m, ids)), 1e-3) << name;
  }
}

TEST(zoo_step, moe_capacity_applies_in_training_only_so_step_equals_the_evaluation_forward) {
  lm_config c = tiny("AA");
  c.ffn = "moe";
  c.n_experts = 4;
  c.top_k = 1;
  c.capacity_factor = 1.0;  // capacity = ceil(1.0 * 20 * 1 / 4) = 5 per expert
  c.init_std = 0.3;
  lm m(c, 2);
  tensor ids = ids_of(2, 10, 13);
  m.train();
  {
    no_grad ng;
    m.forward(ids);
  }
  EXPECT_GT(m.last_metrics()["moe_dropped_tokens"].get<std::int64_t>(), 0);  // training drops overflow
  m.eval();
  tensor full = full_logits(m, ids);
  EXPECT_EQ(m.last_metrics()["moe_dropped_tokens"].get<std::int64_t>(), 0);  // evaluation does not
  EXPECT_LT(max_diff(step_logits(m, ids), full), 2e-5);
  // Step mode ignores capacity even in training mode (one token per sequence is no batch).
  m.train();
  EXPECT_LT(max_diff(step_logits(m, ids), full), 2e-5);
}
