// serve decodes with the model's step mode (KV caches, recurrent states) where it has one: the
// served greedy tokens and logprobs equal those of the full-recompute decoder, on zoo models
// with attention and with a Mamba mixer, including past the context where the window slides;
// the step path runs no full forward at all, and the recompute mode runs no step.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "data/tokenizer.hpp"
#include "models/lm.hpp"
#include "serve/generate.hpp"
#include "serve/model_adapter.hpp"
#include "../lm_test_config.hpp"

using namespace lmlab;
using serve::decode_mode;

namespace {

const std::string k_text = "the cat sat on the mat. a dog ran to the cat and the cat ran away.";

std::unique_ptr<data::char_tokenizer> tokenizer() {
  std::vector<std::string_view> texts = {k_text};
  return std::make_unique<data::char_tokenizer>(data::char_tokenizer::build(texts));
}

// A zoo model with O(1) logits (init_std 0.3), so a wrong step changes the greedy path.
serve::served_model zoo_model(const std::string& pattern, const std::string& pos, decode_mode mode) {
  auto tok = tokenizer();
  models::lm_config c = lmlab::testing::small_lm(tok->vocab_size(), 16, pattern, 2, 24);
  c.pos_encoding = pos;
  c.d_state = 4;
  c.d_mlp = 24;
  c.init_std = 0.3;
  return serve::make_served_model(std::make_unique<models::lm>(c, 5), std::move(tok), "zoo-" + pattern, mode);
}

serve::choice_result greedy(serve::served_model& m, const std::string& prompt, std::int64_t max_tokens) {
  serve::prompt_in p;
  p.ids = m.tok->encode(prompt);
  serve::gen_params g;
  g.temperature = 0;
  g.max_tokens = max_tokens;
  g.logprobs = 2;
  g.echo = true;
  return serve::run_choice(m, p, g, 0);
}

void expect_same(const serve::choice_result& a, const serve::choice_result& b) {
  ASSERT_EQ(a.tokens.size(), b.tokens.size());
  EXPECT_EQ(a.text, b.text);
  for (std::size_t i = 0; i < a.tokens.size(); ++i) {
    EXPECT_EQ(a.tokens[i].id, b.tokens[i].id) << "generated token " << i;
    EXPECT_NEAR(*a.tokens[i].logprob, *b.tokens[i].logprob, 1e-4 + 1e-4 * std::abs(*b.tokens[i].logprob)) << i;
  }
  ASSERT_EQ(a.prompt_tokens.size(), b.prompt_tokens.size());
  for (std::size_t i = 1; i < a.prompt_tokens.size(); ++i)
    EXPECT_NEAR(*a.prompt_tokens[i].logprob, *b.prompt_tokens[i].logprob, 1e-4 + 1e-4 * std::abs(*b.prompt_tokens[i].logprob))
        << "prompt token " << i;
}

}  // namespace

class serve_step : public ::testing::TestWithParam<std::pair<std::string, std::string>> {};

TEST_P(serve_step, greedy_steps_equal_full_recompute_within_and_past_the_context) {
  const auto& [pattern, pos] = GetParam();
  auto stepped = zoo_model(pattern, pos, decode_mode::step);
  auto full = zoo_model(pattern, pos, decode_mode::recompute);
  auto& s = dynamic_cast<serve::model_lm&>(*stepped.lm);
  auto& f = dynamic_cast<serve::model_lm&>(*full.lm);
  EXPECT_TRUE(s.has_kv_cache());
  EXPECT_FALSE(f.has_kv_cache());
  // 10 prompt tokens + 10 generated stay inside n_ctx = 24.
  const auto a = greedy(stepped, "the cat sa", 10), b = greedy(full, "the cat sa", 10);
  expect_same(a, b);
  EXPECT_EQ(s.forwards(), 0);           // prefill and decoding are all steps
  EXPECT_EQ(s.steps(), 10 + 9);         // one per prompt token, one per token after the first
  EXPECT_EQ(f.forwards(), 10);          // the prefill, then one full window per token
  // 10 + 30 tokens: the window slides past n_ctx = 24 in both decoders.
  expect_same(greedy(stepped, "the cat sa", 30), greedy(full, "the cat sa", 30));
}

INSTANTIATE_TEST_SUITE_P(mixers, serve_step,
                         ::testing::Values(std::make_pair(std::string("A"), std::string("learned")),
                                           std::make_pair(std::string("AA"), std::string("rope")),
                                           std::make_pair(std::string("M"), std::string("none")),
                                           std::make_pair(std::string("MA"), std::string("rope"))),
                         [](const auto& info) { return info.param.first + "_" + info.param.second; });

// `lmlab serve --recompute` (and any causal_lm without a step mode) decodes by recomputing the
// window: forwards only, no steps.
TEST(serve_step_recompute, the_recompute_mode_runs_forwards_only) {
  auto m = zoo_model("A", "learned", decode_mode::recompute);
  auto& lm = dynamic_cast<serve::model_lm&>(*m.lm);
  EXPECT_FALSE(lm.has_kv_cache());
  greedy(m, "the cat", 5);
  EXPECT_EQ(lm.forwards(), 5);
  EXPECT_EQ(lm.steps(), 0);
}
