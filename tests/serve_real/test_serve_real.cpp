// serve: a GGUF file served as it is (load_served_model takes any model path): the model,
// its SentencePiece tokenizer, and greedy decoder steps that follow the
// published stories260K text; over HTTP, /v1/completions puts BOS before the prompt as
// `lmlab sample` does, so greedy text from an empty prompt is the published text, and the
// step decoder (KV cache) and full recompute give the same tokens.
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>

#include "../shared_models.hpp"
#include "data/tokenizer.hpp"
#include "serve/generate.hpp"
#include "serve/model_adapter.hpp"
#include "serve/server.hpp"
#include "train/import.hpp"

using namespace lmlab;
using nlohmann::json;

namespace {

// shared/models/README.md: the 256 greedy ids after BOS (llama2.c run.c -t 0.0).
const std::vector<std::int32_t> k_published = {
    403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410,
    408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394, 261, 370, 432, 352, 266, 268,
    388, 426, 338, 391, 266, 267, 337, 335, 312, 432, 398, 312, 286, 267, 414, 270, 333, 415, 426, 13, 438,
    310, 439, 419, 357, 336, 432, 313, 438, 310, 432, 278, 316, 439, 419, 298, 414, 267, 265, 282, 295, 433,
    426, 436, 317, 286, 296, 418, 269, 279, 292, 416, 439, 413, 409, 416, 327, 263, 415, 294, 267, 400, 426,
    338, 336, 432, 313, 442, 391, 267, 337, 335, 364, 420, 268, 388, 432, 398, 359, 280, 303, 439, 413, 272,
    417, 264, 312, 426, 436, 13, 438, 310, 286, 296, 418, 269, 279, 292, 416, 439, 413, 409, 416, 327, 263,
    415, 294, 267, 400, 426, 338, 336, 432, 313, 442, 439, 423, 262, 304, 420, 422, 432, 317, 426, 359, 279,
    292, 416, 439, 413, 409, 416, 327, 263, 415, 294, 267, 400, 426, 436, 13, 438, 310, 279, 292, 416, 439,
    413, 391, 267, 281, 421, 427, 311, 357, 432, 384, 358, 336, 432, 313, 442, 439, 423, 262, 304, 420, 422,
    432, 357, 426, 359, 279, 292, 416, 439, 413, 409, 416, 327, 263, 415, 294, 267, 400, 426, 436, 320, 285,
    357, 336, 432, 313, 455, 289, 439, 413, 263, 304, 420, 422, 432, 317, 426, 410, 448, 411, 280, 303, 281,
    421, 427, 364, 426};

std::vector<std::int32_t> published(std::size_t n) { return {k_published.begin(), k_published.begin() + n}; }

// The text `lmlab sample` prints for BOS + ids: the decoding of all ids (prompt included).
std::string text_of(const serve::served_model& m, std::vector<std::int32_t> ids) {
  ids.insert(ids.begin(), 1);
  return m.tok->decode(ids);
}

json complete(serve::served_model& m, const json& body) {
  serve::server_options o;
  o.port = 0;
  serve::server s(m, o);
  s.start();
  httplib::Client c("127.0.0.1", s.port());
  c.set_read_timeout(120, 0);
  auto r = c.Post("/v1/completions", body.dump(), "application/json");
  if (!r) return json{{"status", -1}};
  EXPECT_EQ(r->status, 200) << r->body;
  return json::parse(r->body, nullptr, false);
}

}  // namespace

TEST(serve_real, stories260k_gguf_is_served_with_its_tokenizer) {
  LMLAB_SHARED_MODEL(path, "stories260K.gguf");
  auto m = serve::load_served_model(path);
  EXPECT_EQ(m.name, "stories260K.gguf");
  EXPECT_EQ(m.num_parameters, 292800);
  EXPECT_EQ(m.tok->kind(), "spm_bpe");
  EXPECT_EQ(m.lm->vocab_size(), 512);
  // BOS, then greedy: the published text starts "Once upon a time" = 403 407 261 378.
  auto d = m.lm->new_decoder();
  auto rows = d->prefill(std::vector<std::int32_t>{1});
  std::vector<std::int32_t> got;
  ASSERT_EQ(rows.rows, 1);
  const auto r0 = rows.row(0);
  std::vector<float> last(r0.begin(), r0.end());
  for (int i = 0; i < 4; ++i) {
    const auto id = static_cast<std::int32_t>(std::max_element(last.begin(), last.end()) - last.begin());
    got.push_back(id);
    last = d->step(id);
  }
  EXPECT_EQ(got, (std::vector<std::int32_t>{403, 407, 261, 378}));
}

TEST(serve_real, greedy_completion_of_an_empty_prompt_is_the_published_text) {
  LMLAB_SHARED_MODEL(path, "stories260K.gguf");
  auto m = serve::load_served_model(path);
  const auto j = complete(m, {{"prompt", ""}, {"max_tokens", 256}, {"temperature", 0}});
  ASSERT_TRUE(j.contains("choices")) << j.dump();
  EXPECT_EQ(j["choices"][0]["text"], text_of(m, k_published));  // BOS is hidden: "Once upon a time, ..."
  EXPECT_EQ(j["usage"]["prompt_tokens"], 1);                    // BOS
  EXPECT_EQ(j["usage"]["completion_tokens"], 256);
}

TEST(serve_real, a_text_prompt_is_continued_after_bos_as_lmlab_sample_does) {
  LMLAB_SHARED_MODEL(path, "stories260K.gguf");
  auto m = serve::load_served_model(path);
  EXPECT_EQ(m.tok->encode("Once upon a time"), published(4));
  const auto j = complete(m, {{"prompt", "Once upon a time"}, {"max_tokens", 40}, {"temperature", 0},
                              {"echo", true}, {"logprobs", 0}});
  ASSERT_TRUE(j.contains("choices")) << j.dump();
  EXPECT_EQ(j["choices"][0]["text"], text_of(m, published(44)));  // echo: the prompt, then the continuation
  const auto& lp = j["choices"][0]["logprobs"];
  EXPECT_EQ(lp["tokens"][0], "Once");  // the echoed prompt has no BOS and no dummy-prefix space
  EXPECT_EQ(lp["text_offset"][1], 4);
  EXPECT_EQ(j["usage"]["prompt_tokens"], 5);  // BOS + 4
}

TEST(serve_real, kv_cache_steps_and_full_recompute_give_the_published_tokens) {
  LMLAB_SHARED_MODEL(path, "stories260K.gguf");
  auto stepped = serve::load_served_model(path);
  auto ck = train::load_model_any(path);
  auto full = serve::make_served_model(std::move(ck.model), data::tokenizer_from_json(*ck.tokenizer, path.string()),
                                       "full", serve::decode_mode::recompute);
  EXPECT_TRUE(stepped.lm->has_kv_cache());
  EXPECT_FALSE(full.lm->has_kv_cache());
  serve::prompt_in p;
  p.ids = {1};
  p.hidden = 1;
  serve::gen_params g;
  g.temperature = 0;
  g.max_tokens = 64;
  std::vector<std::int32_t> a, b;
  for (const auto& t : serve::run_choice(stepped, p, g, 0).tokens) a.push_back(t.id);
  for (const auto& t : serve::run_choice(full, p, g, 0).tokens) b.push_back(t.id);
  EXPECT_EQ(a, published(64));
  EXPECT_EQ(b, published(64));
  EXPECT_EQ(dynamic_cast<serve::model_lm&>(*stepped.lm).forwards(), 0);
}
