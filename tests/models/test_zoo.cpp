// The model (models/lm.hpp) through its whole interface: the default config counts PaLM's
// FLOPs and writes GPT's config.json values; incremental generation (step mode) equals the full-sequence
// forward for every mixer, positional encoding, FFN and a hybrid; state sizes by hand; MoE and
// MoD through a model (aux loss, dropped tokens in training only, processed fraction); every
// parameter gets a gradient; save/load round trips for every mixer; RoPE scaling at
// evaluation; config errors. More step mode (MoD, hooks, MoE capacity): test_zoo_step.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "autograd/autograd.hpp"
#include "core/checked.hpp"
#include "models/lm.hpp"
#include "models/sample.hpp"
#include "nn/init.hpp"
#include "ops/ops.hpp"
#include "train/checkpoint.hpp"
#include "train/config.hpp"
#include "train/trainer.hpp"
#include "zoo_test_util.hpp"
#include "../error_of.hpp"
#include "../lm_test_config.hpp"

using namespace lmlab;
using models::lm;
using models::lm_config;
using namespace zoo_test;

using lmlab::testing::error_of;

TEST(zoo_lm, default_config_counts_palms_flops) {
  lm_config c = lmlab::testing::small_lm(13, 16, 2, 2, 12);
  c.tie_embeddings = false;
  lm b(c, 7);
  // ref: Chowdhery et al. 2022 (PaLM), appendix B: 6N + 12*L*d*T, N without the position table
  // and (untied) the input table, as nanoGPT counts.
  const double N = static_cast<double>(b.num_parameters() - 12 * 16 - 13 * 16);
  EXPECT_DOUBLE_EQ(b.train_flops_per_token(12), 6.0 * N + 12.0 * 2 * 16 * 12);
  auto j = b.config_json();
  EXPECT_EQ(j["model_type"], "lmlab-lm");
  EXPECT_EQ(j["hidden_size"], 16);
  EXPECT_EQ(j["num_key_value_heads"], 2);
  EXPECT_EQ(j["intermediate_size"], 64);
  EXPECT_TRUE(j["rope_scaling"].is_null());
}

// One row per configuration; step mode must reproduce the forward's logits at every position.
struct step_case {
  const char* name;
  std::function<void(lm_config&)> edit;
};

TEST(zoo_lm, step_mode_equals_full_forward_for_every_mixer) {
  const std::vector<step_case> cases = {
      {"attn learned", [](lm_config&) {}},
      {"attn sinusoidal rmsnorm", [](lm_config& c) { c.pos_encoding = "sinusoidal"; c.norm = "rmsnorm"; }},
      {"attn rope gqa", [](lm_config& c) { c.pos_encoding = "rope"; c.n_heads = 4; c.n_kv_heads = 2; }},
      {"attn rope mqa window", [](lm_config& c) { c.pos_encoding = "rope"; c.n_heads = 4; c.n_kv_heads = 1; c.window = 3; }},
      {"attn yarn", [](lm_config& c) { c.pos_encoding = "yarn"; c.rope_scaling.factor = 2; c.rope_scaling.type = "yarn"; }},
      {"attn llama3", [](lm_config& c) { c.pos_encoding = "llama3"; c.rope_scaling.type = "llama3"; c.rope_scaling.factor = 4; c.rope_scaling.original_max_position_embeddings = 4; }},
      {"attn alibi window", [](lm_config& c) { c.pos_encoding = "alibi"; c.n_heads = 4; c.window = 4; }},
      {"attn fire", [](lm_config& c) { c.pos_encoding = "fire"; }},
      {"attn nope swiglu", [](lm_config& c) { c.pos_encoding = "none"; c.ffn = "swiglu"; c.bias = false; }},
      {"attn moe", [](lm_config& c) { c.ffn = "moe"; c.n_experts = 3; c.top_k = 2; }},
      {"attn rope short conv", [](lm_config& c) { c.pos_encoding = "rope"; c.attn_conv = 3; }},
      {"attn conv window", [](lm_config& c) { c.attn_conv = 4; c.window = 3; c.pos_encoding = "alibi"; }},
      {"mamba", [](lm_config& c) { c.pattern = "MM"; c.pos_encoding = "none"; }},
      {"griffin", [](lm_config& c) { c.pattern = "RR"; c.pos_encoding = "none"; }},
      {"rwkv", [](lm_config& c) { c.pattern = "WW"; c.pos_encoding = "none"; }},
      {"retnet", [](lm_config& c) { c.pattern = "TT"; c.pos_encoding = "none"; }},
      {"hybrid", [](lm_config& c) { c.pattern = "MARWT"; c.n_layers = 5; c.pos_encoding = "rope"; c.window = 5; }},
  };
  for (const auto& sc : cases) {
    lm_config c = tiny("AA");
    c.init_std = 0.3;  // large weights: O(1) logits, so a wrong step shows
    sc.edit(c);
    c.n_layers = std::max<std::int64_t>(c.n_layers, static_cast<std::int64_t>(c.pattern.size()));
    lm m(c, 3);
    m.eval();
    tensor ids = ids_of(2, 10, 13);
    tensor full;
    {
      no_grad ng;
      full = m.forward(ids);
    }
    ASSERT_TRUE(m.supports_step()) << sc.name;
    const double d = max_diff(step_logits(m, ids), full);
    EXPECT_LT(d, 2e-5) << sc.name;
    EXPECT_GT(max_diff(full, tensor::zeros(full.shape())), 0.5) << sc.name;  // logits of size O(1)
  }
}

TEST(zoo_lm, state_size_by_hand) {
  // Attention: 2 (K and V) * L * H_kv * D * T * 4 bytes.
  lm_config a = tiny("AA");
  a.n_heads = 4;
  a.n_kv_heads = 2;
  EXPECT_EQ(lm(a).state_size(100), 2 * 2 * 2 * 4 * 100 * 4);
  a.window = 8;  // a sliding window caps the cache
  EXPECT_EQ(lm(a).state_size(100), 2 * 2 * 2 * 4 * 8 * 4);
  EXPECT_EQ(lm(a).state_size(5), 2 * 2 * 2 * 4 * 5 * 4);
  a.attn_conv = 3;  // plus the short conv's last K-1 inputs (C = 16) per layer
  EXPECT_EQ(lm(a).state_size(100), 2 * (2 * 2 * 4 * 8 + 2 * 16) * 4);
  // Mamba: conv (K-1)*Di + ssm Di*N per layer, independent of T. Di = 2*16, N = 4, K = 4.
  lm_config m = tiny("MM");
  EXPECT_EQ(lm(m).state_size(1), 2 * (3 * 32 + 32 * 4) * 4);
  EXPECT_EQ(lm(m).state_size(100000), lm(m).state_size(1));
  // Griffin: conv (K-1)*Dr + h Dr; RWKV: time-mix last x + (a, b, p), channel-mix last x;
  // RetNet: H * D * D.
  EXPECT_EQ(lm(tiny("R")).state_size(50), (3 * 16 + 16) * 4);
  EXPECT_EQ(lm(tiny("W")).state_size(50), (16 + 3 * 16 + 16) * 4);
  EXPECT_EQ(lm(tiny("T")).state_size(50), 2 * 8 * 8 * 4);
  // A Jamba-style 1:7 hybrid: one attention cache plus seven Mamba states.
  lm_config j = tiny("MMMAMMMM");
  EXPECT_EQ(lm(j).state_size(64), 2 * 2 * 8 * 64 * 4 + 7 * (3 * 32 + 32 * 4) * 4);
}

TEST(zoo_lm, moe_aux_loss_and_dropped_tokens_through_a_model) {
  lm_config c = tiny("A");
  c.ffn = "moe";
  c.n_experts = 4;
  c.top_k = 1;
  c.capacity_factor = 0.5;  // capacity = ceil(0.5 * 20 * 1 / 4) = 3 per expert: at most 12 of 20 kept
  c.aux_loss_coef = 0.1;
  lm m(c, 1);
  tensor in = ids_of(2, 10, 13), tg = ids_of(2, 10, 13, 2);
  m.train();
  tensor with_aux = m.loss(in, tg);
  auto mt = m.last_metrics();
  ASSERT_TRUE(mt.contains("moe_dropped_tokens"));
  EXPECT_GE(mt["moe_dropped_tokens"].get<std::int64_t>(), 8);
  EXPECT_DOUBLE_EQ(mt["moe_dropped_fraction"].get<double>(), mt["moe_dropped_tokens"].get<double>() / 20.0);
  const double aux = mt["moe_aux_loss"].get<double>();
  EXPECT_GT(aux, 0.0);
  tensor plain = m.causal_lm::loss(in, tg);  // the same routing, cross-entropy only
  EXPECT_NEAR(with_aux.item(), plain.item() + 0.1 * aux, 1e-6);
  // Capacity is a training device: evaluation routes every token (and adds no aux loss).
  m.eval();
  EXPECT_NE(m.loss(in, tg).item(), plain.item());
  EXPECT_EQ(m.last_metrics()["moe_dropped_tokens"].get<std::int64_t>(), 0);
  // The router learns through the kept gates and the aux loss.
  m.train();
  backward(m.loss(in, tg));
  double g = 0;
  for (double x : m.parameter("blocks.0.moe.router").grad().to_vector()) g += std::abs(x);
  EXPECT_GT(g, 0.0);
  // The hook on the router probabilities sees (N, E).
  shape_t seen;
  m.find_hook("blocks.0.moe.hook_router_probs").add([&](const tensor& t, const nn::hook_point&) {
    seen = t.shape();
    return tensor{};
  });
  m.forward(in);
  EXPECT_EQ(seen, (shape_t{20, 4}));
}

TEST(zoo_lm, mixture_of_depths_processes_the_capacity) {
  lm_config c = tiny("AAAA");
  c.mod_capacity = 0.25;
  c.mod_every = 2;  // blocks 1 and 3 are routed
  lm m(c, 1);
  EXPECT_NO_THROW(m.parameter("blocks.1.mod_router.weight"));
  EXPECT_NE(error_of([&] { m.parameter("blocks.0.mod_router.weight"); }), "(no error)");
  tensor in = ids_of(2, 12, 13);
  m.forward(in);
  // k = ceil(0.25 * 12) = 3 of 12 tokens in each routed block.
  EXPECT_DOUBLE_EQ(m.last_metrics()["mod_processed_fraction"].get<double>(), 0.25);
  const double acc = m.last_metrics()["mod_predictor_accuracy"].get<double>();
  EXPECT_GE(acc, 0.0);
  EXPECT_LE(acc, 1.0);
  // Step mode routes by r > 0 (tests/models/test_zoo_step.cpp checks it against the forward).
  EXPECT_TRUE(m.supports_step());
  // Routed blocks cost k/T of a block at context k (their tokens attend to each other only)
  // plus the router's 2d; the dense blocks and the head are unchanged.
  lm_config plain = tiny("AAAA");
  const double full = lm(plain).flops_per_token(12), routed = m.flops_per_token(12);
  const double head = 2.0 * (2 * 16 + 13 * 16);
  const auto block_at = [&](std::int64_t T) { return (lm(plain).flops_per_token(T) - head) / 4; };
  EXPECT_NEAR(routed, full - 2 * block_at(12) + 2 * (3.0 / 12.0 * block_at(3) + 2 * 16), 1e-6);
  // Sampling runs in step mode.
  auto out = models::generate(m, {1, 2, 3}, {.temperature = 0, .max_new_tokens = 4});
  EXPECT_EQ(out.size(), 4u);
}

TEST(zoo_lm, every_parameter_gets_a_gradient) {
  for (const std::string pattern : {"A", "M", "R", "W", "T"}) {
    lm_config c = tiny(pattern);
    if (pattern == "A") {
      c.pos_encoding = "fire";
      c.ffn = "moe";
      c.n_experts = 2;
      c.top_k = 2;
      c.n_layers = 2;
      c.mod_capacity = 0.5;
      c.mod_every = 2;
    }
    c.tie_embeddings = false;
    lm m(c, 5);
    backward(m.loss(ids_of(2, 8, 13), ids_of(2, 8, 13, 3)));
    for (auto& [name, p] : m.named_parameters()) {
      // attn.b_k's gradient is zero in exact arithmetic (softmax ignores a shift shared by all keys).
      if (name.ends_with("attn.b_k")) continue;
      double g = 0;
      for (double x : p.grad().to_vector()) g += std::abs(x);
      EXPECT_GT(g, 0.0) << pattern << " " << name;
    }
  }
}

TEST(zoo_lm, save_load_round_trip_for_every_mixer) {
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("lmlab_zoo_ckpt_{}", ::getpid());
  for (const std::string pattern : {"A", "M", "R", "W", "T", "MAMR"}) {
    lm_config c = tiny(pattern);
    c.pos_encoding = pattern == "A" ? "rope" : "none";
    c.n_kv_heads = 1;
    c.ffn = pattern == "MAMR" ? "moe" : "swiglu";
    c.n_experts = 2;
    c.top_k = 1;
    c.rope_scaling = {"yarn", 2.0, 6, 16.0, 2.0, 1.0, 4.0};
    lm m(c, 9);
    train::save_checkpoint(dir, {&m, nullptr, {{"step", 1}}, std::nullopt});
    auto ck = train::load_checkpoint(dir);
    EXPECT_EQ(models::to_json(ck.config).dump(), models::to_json(c).dump()) << pattern;
    tensor ids = ids_of(1, 9, 13);
    m.eval();
    ck.model->eval();
    EXPECT_EQ(ck.model->forward(ids).values<float>(), m.forward(ids).values<float>()) << pattern;
  }
  std::filesystem::remove_all(dir);
}

TEST(zoo_lm, rope_scaling_is_chosen_at_evaluation) {
  lm_config c = tiny("AA");
  c.pos_encoding = "rope";
  lm m(c, 2);
  m.eval();
  tensor ids = ids_of(1, 24, 13);  // twice the trained context: rope has no position table
  const auto base = m.forward(ids).values<float>();
  m.set_rope_scaling({"linear", 1.0});
  EXPECT_EQ(m.forward(ids).values<float>(), base);  // factor 1 is the identity
  for (const char* type : {"linear", "ntk", "dynamic", "yarn"}) {
    m.set_rope_scaling({type, 2.0});
    EXPECT_NE(m.forward(ids).values<float>(), base) << type;
    EXPECT_EQ(m.config_json()["rope_scaling"]["rope_type"], type);
  }
  // Dynamic NTK changes nothing while the sequence fits the trained context (HF semantics).
  m.set_rope_scaling({"none", 1.0});
  tensor short_ids = ids_of(1, 12, 13);
  const auto short_base = m.forward(short_ids).values<float>();
  m.set_rope_scaling({"dynamic", 4.0});
  EXPECT_EQ(m.forward(short_ids).values<float>(), short_base);
  // Learned positions cannot go past n_ctx.
  lm learned(tiny("A"), 1);
  EXPECT_EQ(error_of([&] { learned.forward(ids); }), "lm: sequence length 24 exceeds n_ctx = 12");
}

TEST(zoo_lm, hooks_on_every_mixer_and_the_materialised_pattern) {
  lm_config c = tiny("AMRWT");
  c.pos_encoding = "alibi";
  c.window = 4;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  lm m(c, 4);
  m.eval();
  tensor ids = ids_of(2, 9, 13);
  const auto fused = m.forward(ids);
  std::map<std::string, shape_t> seen;
  for (const char* h : {"blocks.0.attn.hook_pattern", "blocks.1.ssm.hook_dt", "blocks.1.ssm.hook_state",
                        "blocks.2.rglru.hook_gate_r", "blocks.2.rglru.hook_h", "blocks.3.time_mix.hook_wkv",
                        "blocks.4.retention.hook_out", "blocks.3.hook_attn_out"})
    m.find_hook(h).add([&seen, h](const tensor& t, const nn::hook_point&) {
      seen[h] = t.shape();
      return tensor{};
    });
  const auto hooked = m.forward(ids);  // attention now runs the materialised path
  EXPECT_LT(max_diff(hooked, fused), 1e-5);
  EXPECT_EQ(seen["blocks.0.attn.hook_pattern"], (shape_t{2, 4, 9, 9}));
  EXPECT_EQ(seen["blocks.1.ssm.hook_dt"], (shape_t{2, 9, 32}));
  EXPECT_EQ(seen["blocks.1.ssm.hook_state"], (shape_t{2, 32, 4}));
  EXPECT_EQ(seen["blocks.2.rglru.hook_gate_r"], (shape_t{2, 9, 16}));
  EXPECT_EQ(seen["blocks.2.rglru.hook_h"], (shape_t{2, 9, 16}));
  EXPECT_EQ(seen["blocks.3.time_mix.hook_wkv"], (shape_t{2, 9, 16}));
  EXPECT_EQ(seen["blocks.4.retention.hook_out"], (shape_t{2, 9, 16}));
  EXPECT_EQ(seen["blocks.3.hook_attn_out"], (shape_t{2, 9, 16}));
  // Patching: a uniform pattern over the visible keys changes the output.
  m.find_hook("blocks.0.attn.hook_pattern").add([](const tensor& t, const nn::hook_point&) {
    tensor u = t.clone_raw();
    float* p = u.data<float>();
    for (std::int64_t i = 0; i < u.numel(); ++i) p[i] = p[i] > 0 ? 0.25f : 0.0f;
    return u;
  });
  EXPECT_GT(max_diff(m.forward(ids), fused), 1e-4);
}

TEST(zoo_config, json_keys_errors_and_config_json_round_trip) {
  nlohmann::json j = {{"vocab_size", 13}, {"d_model", 16}, {"n_layers", 8}, {"n_heads", 2}, {"pattern", "MMMAMMMM"},
                      {"pos_encoding", "rope"}, {"rope_scaling", {{"type", "yarn"}, {"factor", 4}}}, {"d_state", 4}};
  auto m = models::make_model(j, 3);
  EXPECT_EQ(m->config_json()["layer_pattern"], "MMMAMMMM");
  EXPECT_EQ(m->config_json()["rope_scaling"]["factor"], 4.0);
  EXPECT_NO_THROW(m->parameter("blocks.3.attn.w_q"));
  EXPECT_NO_THROW(m->parameter("blocks.0.ssm.A_log"));
  const auto back = models::lm_config_from_hf_json(m->config_json(), "config.json");
  EXPECT_EQ(models::to_json(back).dump(), models::to_json(models::lm_config_from_json(j)).dump());
  j["pattern"] = "MMX";
  EXPECT_EQ(error_of([&] { models::make_model(j); }), "model.pattern: unknown mixer 'X' in \"MMX\"");
  j["pattern"] = "MMA";
  EXPECT_EQ(error_of([&] { models::make_model(j); }),
            "model.pattern: \"MMA\" has 3 letters, which do not divide model.n_layers = 8");
  j["pattern"] = "A";
  j["n_kv_heads"] = 3;
  EXPECT_EQ(error_of([&] { models::make_model(j); }), "model.n_kv_heads: 3 does not divide model.n_heads = 2");
  j["n_kv_heads"] = 1;
  j["pos_encoding"] = "xpos";
  EXPECT_EQ(error_of([&] { models::make_model(j); }), "model.pos_encoding: unknown encoding 'xpos'");
  j["pos_encoding"] = "rope";
  j["n_expert"] = 4;
  EXPECT_EQ(error_of([&] { models::make_model(j); }), "model: unknown key 'n_expert'");
  j.erase("n_expert");
  j["window"] = "big";
  EXPECT_EQ(error_of([&] { models::make_model(j); }), "model: window: expected an integer, got \"big\"");
}

TEST(zoo_config, hostile_sizes_are_errors_before_anything_is_allocated) {
  // intermediate_size = INT64_MAX crashed (a wrapped tensor size was allocated and written);
  // num_hidden_layers >= 65535 threw bad_alloc through storage's destructor (abort).
  nlohmann::json hf = models::make_model(nlohmann::json{{"vocab_size", 13}, {"d_model", 16}, {"n_heads", 2}}, 1)->config_json();
  hf["intermediate_size"] = std::numeric_limits<std::int64_t>::max();
  EXPECT_EQ(error_of([&] { models::lm_config_from_hf_json(hf, "config.json"); }),
            "config.json.d_mlp: 9223372036854775807 is too large (at most 2147483647)");
  hf["intermediate_size"] = 18446744073709551615ull;  // wrapped to -1 as an int64
  EXPECT_EQ(error_of([&] { models::lm_config_from_hf_json(hf, "config.json"); }),
            "config.json: d_mlp: expected an integer, got 18446744073709551615");
  hf["intermediate_size"] = 64;
  hf["hidden_size"] = 128;
  hf["num_attention_heads"] = 4;
  hf["num_hidden_layers"] = 65535;
  struct restore {
    ~restore() { set_tensor_memory_limit(0); }
  } r;
  set_tensor_memory_limit(std::size_t{1} << 30);
  EXPECT_EQ(error_of([&] { models::lm_config_from_hf_json(hf, "config.json"); }),
            "config.json: the model has at least 5.37e+09 parameters (20 GiB as f32), more than the memory limit of 1 GiB");
  hf["model_type"] = 16;  // found by fuzz_config_json: a nlohmann type_error escaped (abort in the fuzzer)
  EXPECT_EQ(error_of([&] { models::lm_config_from_hf_json(hf, "config.json"); }),
            "config.json: model_type must be a string, got 16");
  EXPECT_EQ(error_of([] { train::parse_train_config("", "cfg.toml", {"model.d_mlp=4611686018427387904"}); }),
            "cfg.toml: model.d_mlp: 4611686018427387904 is too large (at most 2147483647)");
}

TEST(zoo_config, toml_nested_rope_scaling_and_sets) {
  auto c = train::parse_train_config(
      "[model]\npattern = \"RRA\"\nn_layers = 3\npos_encoding = \"rope\"\nwindow = 8\n"
      "[model.rope_scaling]\ntype = \"yarn\"\nfactor = 2.0\n",
      "cfg.toml", {"model.rope_scaling.beta_fast=16", "model.ffn=swiglu"});
  EXPECT_EQ(c.model.pattern, "RRA");
  EXPECT_EQ(c.model.rope_scaling.type, "yarn");
  EXPECT_DOUBLE_EQ(c.model.rope_scaling.factor, 2.0);
  EXPECT_DOUBLE_EQ(c.model.rope_scaling.beta_fast, 16.0);
  EXPECT_EQ(c.model.ffn, "swiglu");
  auto back = train::parse_train_config(train::to_toml(c), "round-trip");
  EXPECT_EQ(train::to_toml(back), train::to_toml(c));
  EXPECT_EQ(error_of([] { train::parse_train_config("[model.rope_scaling]\nkind = 1\n", "cfg.toml"); }),
            "cfg.toml: unknown key 'model.rope_scaling.kind'");
  EXPECT_EQ(error_of([] { train::parse_train_config("[model]\nffn = \"relu\"\n", "cfg.toml"); }),
            "cfg.toml: model.ffn: unknown ffn 'relu'");
}

TEST(zoo_train, the_trainer_trains_a_hybrid_moe_model_and_reports_its_metrics) {
  std::vector<std::int32_t> train_ids(4000), val_ids(800);
  for (std::size_t i = 0; i < train_ids.size(); ++i) train_ids[i] = static_cast<std::int32_t>((i * 3 + i / 7) % 13);
  for (std::size_t i = 0; i < val_ids.size(); ++i) val_ids[i] = static_cast<std::int32_t>((i * 3 + i / 7 + 1) % 13);
  train::train_config cfg;
  cfg.model = tiny("MA");
  cfg.model.ffn = "moe";
  cfg.model.n_experts = 2;
  cfg.model.top_k = 1;
  cfg.model.capacity_factor = 1.0;
  cfg.train.batch_size = 4;
  cfg.train.steps = 12;
  cfg.train.warmup_steps = 2;
  cfg.train.lr = 1e-2;
  cfg.train.min_lr = 1e-3;
  cfg.train.eval_batches = 2;
  cfg.train.eval_every = 0;
  train::token_source src{std::span<const std::int32_t>(train_ids), std::span<const std::int32_t>(val_ids), std::nullopt};
  train::run_options quiet;
  quiet.progress = nullptr;
  quiet.write_files = false;
  auto sum = train::run_training(cfg, src, quiet);
  ASSERT_EQ(sum.losses.size(), 12u);
  EXPECT_LT(sum.losses.back(), sum.losses.front());  // it learns
  EXPECT_TRUE(sum.model_metrics.contains("moe_dropped_tokens"));
  EXPECT_TRUE(sum.model_metrics.contains("moe_aux_loss"));
  EXPECT_EQ(sum.n_params, lm(cfg.model, 0).num_parameters());
}

TEST(zoo_sample, incremental_generation_matches_greedy_full_forwards) {
  for (const std::string pattern : {"A", "MA", "WT"}) {
    lm_config c = tiny(pattern);
    c.init_std = 0.3;
    c.pos_encoding = "rope";
    lm m(c, 11);
    const auto fast = models::generate(m, {1, 5, 2}, {.temperature = 0, .max_new_tokens = 8});
    // The same greedy decode by full forwards over the growing sequence.
    std::vector<std::int32_t> ids = {1, 5, 2}, slow;
    no_grad ng;
    m.eval();
    for (int i = 0; i < 8; ++i) {
      const auto T = static_cast<std::int64_t>(ids.size());
      tensor l = m.forward(tensor::from<std::int32_t>({1, T}, std::span<const std::int32_t>(ids)));
      const auto row = l.narrow_raw(1, T - 1, 1).contiguous_raw().values<float>();
      const auto next = static_cast<std::int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
      ids.push_back(next);
      slow.push_back(next);
    }
    EXPECT_EQ(fast, slow) << pattern;
  }
}

TEST(zoo_mixer, registry_and_parallel_equals_recurrent_per_block) {
  std::vector<std::string> kinds;
  for (auto& [k, f] : models::mixer_registry()) kinds.push_back(k);
  EXPECT_EQ(kinds, (std::vector<std::string>{"A", "M", "R", "T", "W", "channel_mix", "gelu", "moe", "swiglu"}));
  EXPECT_EQ(error_of([] { models::make_mixer("S4", tiny(), 0); }), "mixer: unknown kind 'S4'");
  lm_config c = tiny();
  c.pos_encoding = "rope";
  c.n_experts = 3;
  for (const auto& kind : kinds) {
    auto m = models::make_mixer(kind, c, 0);
    m->finalize_names(kind);
    for (auto& [name, p] : m->named_parameters()) nn::init_normal(p, 0.0, 0.3, 5, nn::stream_of(name));
    m->init_special(5);
    EXPECT_STREQ(m->kind(), kind.c_str());
    tensor x = tensor::empty({2, 7, 16});
    nn::init_normal(x, 0.0, 1.0, 6, 1);
    no_grad ng;
    tensor full = m->forward(x);  // (B,T,C) in parallel / scan form
    auto st = m->new_state(2);
    tensor rec = tensor::zeros({2, 7, 16});
    for (std::int64_t t = 0; t < 7; ++t) {
      tensor y = m->step(x.narrow_raw(1, t, 1).contiguous_raw().view_raw({2, 16}), st.get());
      rec.narrow_raw(1, t, 1).copy_from(y.view_raw({2, 1, 16}));
    }
    EXPECT_LT(max_diff(rec, full), 1e-5) << kind;
    EXPECT_GT(max_diff(full, tensor::zeros(full.shape())), 0.1) << kind;
  }
}
