// The default model (lm with pattern "A": GPT-2): config validation, the config.json of
// checkpoints written by the retired fixed-GPT class ("lmlab-gpt", loaded by mapping its keys;
// tests/golden/test_gpt_golden.cpp loads a committed one), parameter names and count,
// determinism of init, the materialised-pattern path against the fused kernel, dropout, and
// sampling.
#include <gtest/gtest.h>

#include "autograd/autograd.hpp"
#include "models/lm.hpp"
#include "models/sample.hpp"
#include "ops/gemm.hpp"
#include "../error_of.hpp"
#include "../lm_test_config.hpp"
#include "ops/ops.hpp"

using namespace lmlab;
using models::lm_config;

namespace {

lm_config tiny() { return lmlab::testing::small_lm(11, 16, 2, 2, 8); }

tensor ids_of(std::int64_t B, std::int64_t T, std::int32_t V) {
  std::vector<std::int32_t> v(static_cast<std::size_t>(B * T));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::int32_t>((i * 7 + 3) % V);
  return tensor::from<std::int32_t>({B, T}, std::span<const std::int32_t>(v));
}

using lmlab::testing::error_of;

}  // namespace

TEST(lm_config, impossible_values_name_the_key) {
  lm_config c = tiny();
  c.n_heads = 3;
  EXPECT_EQ(error_of([&] { c.validate(); }), "model.d_model: 16 is not divisible by model.n_heads = 3");
  c = tiny();
  c.dropout = 1.0;
  EXPECT_EQ(error_of([&] { c.validate(); }), "model.dropout: must be in [0, 1), got 1");
}

// config.json as the retired fixed-GPT class wrote it (models/gpt.cpp to_hf_json).
nlohmann::json old_gpt_json() {
  return {{"model_type", "lmlab-gpt"}, {"architectures", {"LmlabGPT"}}, {"vocab_size", 11}, {"hidden_size", 16},
          {"num_hidden_layers", 2}, {"num_attention_heads", 2}, {"max_position_embeddings", 8},
          {"intermediate_size", 40}, {"tie_word_embeddings", false}, {"hidden_act", "gelu"},
          {"layer_norm_eps", 1e-5}, {"initializer_range", 0.02}, {"dropout", 0.0}, {"torch_dtype", "float32"}};
}

TEST(lm_config, old_gpt_config_json_maps_to_lm_keys) {
  const lm_config c = models::lm_config_from_hf_json(old_gpt_json(), "config.json");
  EXPECT_EQ(c.vocab_size, 11);
  EXPECT_EQ(c.d_model, 16);
  EXPECT_EQ(c.n_layers, 2);
  EXPECT_EQ(c.n_heads, 2);
  EXPECT_EQ(c.n_ctx, 8);
  EXPECT_EQ(c.d_mlp, 40);
  EXPECT_FALSE(c.tie_embeddings);
  EXPECT_EQ(c.pattern, "A");
  EXPECT_EQ(c.pos_encoding, "learned");
  auto j = old_gpt_json();
  j["intermediate_size"] = 64;  // 4 * d_model: the default width
  EXPECT_EQ(models::lm_config_from_hf_json(j, "config.json").d_mlp, 0);
  auto bad = old_gpt_json();
  bad["hidden_sise"] = 3;
  EXPECT_EQ(error_of([&] { models::lm_config_from_hf_json(bad, "config.json"); }), "config.json: unknown key 'hidden_sise'");
  bad = old_gpt_json();
  bad.erase("hidden_size");
  EXPECT_EQ(error_of([&] { models::lm_config_from_hf_json(bad, "config.json"); }), "config.json: missing key 'hidden_size'");
  bad = old_gpt_json();
  bad["num_attention_heads"] = "two";
  EXPECT_EQ(error_of([&] { models::lm_config_from_hf_json(bad, "config.json"); }),
            "config.json: n_heads: expected an integer, got \"two\"");
  bad = old_gpt_json();
  bad["num_attention_heads"] = 5;
  EXPECT_EQ(error_of([&] { models::lm_config_from_hf_json(bad, "config.json"); }),
            "config.json.d_model: 16 is not divisible by config.json.n_heads = 5");
  bad = old_gpt_json();
  bad["hidden_act"] = "relu";
  EXPECT_EQ(error_of([&] { models::lm_config_from_hf_json(bad, "config.json"); }),
            "config.json: hidden_act \"relu\" is not supported (lmlab-gpt uses gelu)");
}

TEST(lm_config, hf_json_round_trip) {
  lm_config c = tiny();
  c.tie_embeddings = false;
  c.d_mlp = 40;
  auto j = models::to_hf_json(c);
  EXPECT_EQ(j["model_type"], "lmlab-lm");
  EXPECT_EQ(j["hidden_size"], 16);
  EXPECT_EQ(j["num_hidden_layers"], 2);
  EXPECT_EQ(j["num_attention_heads"], 2);
  EXPECT_EQ(j["max_position_embeddings"], 8);
  EXPECT_EQ(j["intermediate_size"], 40);
  EXPECT_EQ(j["tie_word_embeddings"], false);
  const lm_config back = models::lm_config_from_hf_json(j, "config.json");
  EXPECT_EQ(models::to_json(back), models::to_json(c));
}

TEST(lm_gpt, parameter_names_and_count) {
  models::lm m(tiny(), 1);
  auto p = m.named_parameters();
  ASSERT_EQ(p.size(), 2u + 2 * 16 + 2);
  EXPECT_EQ(p[0].first, "wte.weight");
  EXPECT_EQ(p[1].first, "wpe.weight");
  EXPECT_EQ(p[2].first, "blocks.0.ln1.weight");
  EXPECT_EQ(p[4].first, "blocks.0.attn.w_q");
  EXPECT_EQ(p[11].first, "blocks.0.attn.b_o");
  EXPECT_EQ(p[14].first, "blocks.0.mlp.w_in");
  EXPECT_EQ(p.back().first, "ln_f.bias");
  // V*C + n_ctx*C + L * (2 LayerNorms + 4 (C*C + C) + (M*C + M) + (C*M + C)) + ln_f, M = 4C.
  const std::int64_t C = 16, M = 64, block = 4 * C + 4 * (C * C + C) + (M * C + M) + (C * M + C);
  EXPECT_EQ(m.num_parameters(), 11 * C + 8 * C + 2 * block + 2 * C);
  lm_config u = tiny();
  u.tie_embeddings = false;
  models::lm mu(u, 1);
  EXPECT_EQ(mu.named_parameters().back().first, "lm_head.weight");
  EXPECT_EQ(mu.num_parameters(), m.num_parameters() + 11 * 16);
}

TEST(lm_gpt, init_is_deterministic_and_seeded) {
  models::lm a(tiny(), 5), b(tiny(), 5), c(tiny(), 6);
  EXPECT_EQ(a.parameter("blocks.1.mlp.w_out").to_vector(), b.parameter("blocks.1.mlp.w_out").to_vector());
  EXPECT_NE(a.parameter("blocks.1.mlp.w_out").to_vector(), c.parameter("blocks.1.mlp.w_out").to_vector());
  EXPECT_EQ(a.parameter("blocks.0.ln1.weight").to_vector(), std::vector<double>(16, 1.0));
  EXPECT_EQ(a.parameter("blocks.0.attn.b_q").to_vector(), std::vector<double>(16, 0.0));
}

// Sinusoidal positions enter at Vaswani et al.'s token : position ratio at the blocks' scale
// (lm::sinusoid): token embeddings at N(0, init_std) like every encoding's, the table times
// init_std, so at d_model 64 the stream starts near init_std, not near 1.
TEST(lm_gpt, sinusoidal_table_enters_at_the_embeddings_scale) {
  const auto spread = [](const std::vector<double>& w) {
    double ss = 0;
    for (const double v : w) ss += v * v;
    return std::sqrt(ss / static_cast<double>(w.size()));
  };
  lm_config c = lmlab::testing::small_lm(200, 64, 1, 2, 8);
  c.pos_encoding = "sinusoidal";
  models::lm m(c, 3);
  EXPECT_NEAR(spread(m.parameter("wte.weight").to_vector()), c.init_std, 0.1 * c.init_std);
  tensor pos;
  m.hook_pos_embed.add([&](const tensor& a, const nn::hook_point&) {
    pos = a.clone_raw();
    return a;
  });
  no_grad ng;
  m.forward(ids_of(1, 8, 200));
  ASSERT_EQ(pos.shape(), (shape_t{1, 8, 64}));
  const auto want = sinusoidal_table(8, 64, 10000.0, dtype::f32).to_vector();
  const auto got = pos.to_vector();
  for (std::size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], c.init_std * want[i], 1e-7) << i;
  EXPECT_NEAR(spread(got), c.init_std * std::sqrt(0.5), 0.2 * c.init_std);  // rms of sin and cos pairs
}

TEST(lm_gpt, forward_shapes_and_errors) {
  models::lm m(tiny(), 1);
  no_grad ng;
  tensor y = m.forward(ids_of(3, 5, 11));
  EXPECT_EQ(y.shape(), (shape_t{3, 5, 11}));
  EXPECT_EQ(error_of([&] { m.forward(ids_of(1, 9, 11)); }), "lm: sequence length 9 exceeds n_ctx = 8");
  // Causality: changing the last token leaves earlier positions' logits unchanged.
  tensor a = ids_of(1, 6, 11), b = a.clone_raw();
  b.data<std::int32_t>()[5] = (b.data<std::int32_t>()[5] + 1) % 11;
  tensor ya = m.forward(a), yb = m.forward(b);
  EXPECT_EQ(ya.narrow_raw(1, 0, 5).to_vector(), yb.narrow_raw(1, 0, 5).to_vector());
  EXPECT_NE(ya.narrow_raw(1, 5, 1).to_vector(), yb.narrow_raw(1, 5, 1).to_vector());
}

TEST(lm_gpt, materialised_pattern_path_matches_fused_attention) {
  models::lm m(tiny(), 2);
  tensor ids = ids_of(2, 8, 11);
  tensor fused, explicit_;
  {
    no_grad ng;
    fused = m.forward(ids);
    for (std::size_t i = 0; i < m.blocks.size(); ++i)
      m.find_hook(fmt::format("blocks.{}.attn.hook_pattern", i)).add([](const tensor&, const nn::hook_point&) { return tensor{}; });
    explicit_ = m.forward(ids);
  }
  auto r = compare(explicit_, fused, 1e-6, 1e-5);
  EXPECT_TRUE(r.ok) << "worst " << r.worst_a << " vs " << r.worst_b;
  // Gradients flow through the materialised path too.
  tensor loss = m.loss(ids_of(2, 9, 11));
  backward(loss);
  EXPECT_TRUE(m.parameter("blocks.0.attn.w_k").grad().defined());
}

TEST(lm_gpt, dropout_is_a_function_of_the_seed_and_off_in_eval) {
  lm_config c = tiny();
  c.dropout = 0.3;
  models::lm m(c, 1);
  tensor ids = ids_of(2, 8, 11);
  no_grad ng;
  m.set_dropout_seed(10);
  auto a = m.forward(ids).to_vector();
  auto b = m.forward(ids).to_vector();
  m.set_dropout_seed(11);
  auto d = m.forward(ids).to_vector();
  EXPECT_EQ(a, b);
  EXPECT_NE(a, d);
  m.eval();
  auto e1 = m.forward(ids).to_vector();
  m.set_dropout_seed(12);
  EXPECT_EQ(e1, m.forward(ids).to_vector());
}

TEST(sample, pick_token_filters) {
  std::vector<float> logits = {0.f, 3.f, 1.f, 2.f};  // probabilities order: 1, 3, 2, 0
  models::sample_options o;
  o.temperature = 0;
  EXPECT_EQ(models::pick_token(logits, o, 0.99), 1);
  o.temperature = 1;
  o.top_k = 1;
  EXPECT_EQ(models::pick_token(logits, o, 0.99), 1);
  o.top_k = 2;  // {1: 0.731, 3: 0.269}
  EXPECT_EQ(models::pick_token(logits, o, 0.70), 1);
  EXPECT_EQ(models::pick_token(logits, o, 0.75), 3);
  o.top_k = 0;
  o.top_p = 0.5;  // token 1 alone has 0.644 >= 0.5
  EXPECT_EQ(models::pick_token(logits, o, 0.99), 1);
  o.top_p = 1;
  EXPECT_EQ(models::pick_token(logits, o, 0.999), 0);  // the least likely token is reachable
}

TEST(sample, generate_is_deterministic_for_a_seed) {
  models::lm m(tiny(), 3);
  models::sample_options o;
  o.max_new_tokens = 12;  // longer than n_ctx: the context is cropped
  o.seed = 4;
  auto a = models::generate(m, {1, 2, 3}, o);
  auto b = models::generate(m, {1, 2, 3}, o);
  o.seed = 5;
  auto c = models::generate(m, {1, 2, 3}, o);
  EXPECT_EQ(a.size(), 12u);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  for (auto id : a) EXPECT_TRUE(id >= 0 && id < 11);
}

// forward(ids) is forward_embeddings(embed(ids)); the embeddings entry point (the VLM lab's
// image prefix) carries the same graph: the gradient it returns for its input, scattered back
// by token id, is the token table's gradient under forward(ids) (untied head, so the table
// gets no gradient from the head).
TEST(lm, forward_embeddings_is_forward_after_embed_and_passes_the_gradient) {
  lm_config c = tiny();
  c.tie_embeddings = false;
  auto m = models::make_model(c, 3);
  const tensor ids = ids_of(2, 5, 11);
  const tensor ref = m->forward(ids);
  tensor x = m->embed(ids).detach().clone_raw();
  x.set_requires_grad(true);
  const tensor out = m->forward_embeddings(x);
  EXPECT_TRUE(compare(out, ref, 0, 0).ok);

  const tensor w = tensor::full({2, 5, 11}, 0.0);
  for (std::int64_t i = 0; i < w.numel(); ++i) w.data<float>()[i] = static_cast<float>((i % 13) - 6) / 7.0f;
  m->zero_grad();
  backward(sum(mul(out, w)));
  const std::vector<double> gx = x.grad().to_vector();
  m->zero_grad();
  backward(sum(mul(m->forward(ids), w)));
  const std::vector<double> gw = m->wte->weight.grad().to_vector();
  std::vector<double> scattered(gw.size(), 0.0);
  const std::vector<std::int32_t> idv = ids.values<std::int32_t>();
  for (std::size_t t = 0; t < idv.size(); ++t)
    for (std::int64_t k = 0; k < c.d_model; ++k)
      scattered[static_cast<std::size_t>(idv[t] * c.d_model + k)] += gx[t * static_cast<std::size_t>(c.d_model) + static_cast<std::size_t>(k)];
  for (std::size_t i = 0; i < gw.size(); ++i) EXPECT_NEAR(scattered[i], gw[i], 1e-5) << i;
  EXPECT_NE(error_of([&] { m->forward_embeddings(tensor::zeros({2, 5, 7})); }).find("input embeddings must be (B, T, 16)"),
            std::string::npos);
}
