// models: stories260K.gguf (shared/models) as a zoo model: the published greedy text of
// llama2.c's doc/stories260K.md reproduced token for token and byte for byte, step mode
// against the full forward, the rotary permutation, and GGUF -> model -> GGUF byte for byte.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "../shared_models.hpp"
#include "core/error.hpp"
#include "autograd/autograd.hpp"
#include "core/fs.hpp"
#include "hooks/hooks.hpp"
#include "data/gguf_tokenizer.hpp"
#include "data/spm_bpe.hpp"
#include "models/import.hpp"
#include "models/sample.hpp"

using namespace lmlab;

namespace {

// shared/models/README.md: the 256 greedy ids after BOS (computed there with an independent
// numpy forward, which reproduces the published text).
const char* k_greedy_ids =
    "403 407 261 378 432 383 286 261 376 298 315 421 395 317 426 338 401 396 267 337 410 408 419 292 411 322 265 282 295 433 426 385 "
    "328 432 358 394 261 370 432 352 266 268 388 426 338 391 266 267 337 335 312 432 398 312 286 267 414 270 333 415 426 13 438 310 "
    "439 419 357 336 432 313 438 310 432 278 316 439 419 298 414 267 265 282 295 433 426 436 317 286 296 418 269 279 292 416 439 413 "
    "409 416 327 263 415 294 267 400 426 338 336 432 313 442 391 267 337 335 364 420 268 388 432 398 359 280 303 439 413 272 417 264 "
    "312 426 436 13 438 310 286 296 418 269 279 292 416 439 413 409 416 327 263 415 294 267 400 426 338 336 432 313 442 439 423 262 "
    "304 420 422 432 317 426 359 279 292 416 439 413 409 416 327 263 415 294 267 400 426 436 13 438 310 279 292 416 439 413 391 267 "
    "281 421 427 311 357 432 384 358 336 432 313 442 439 423 262 304 420 422 432 357 426 359 279 292 416 439 413 409 416 327 263 415 "
    "294 267 400 426 436 320 285 357 336 432 313 455 289 439 413 263 304 420 422 432 317 426 410 448 411 280 303 281 421 427 364 426";

// The published text (llama2.c doc/stories260K.md, as shared/models/README.md quotes it).
const char* k_greedy_text =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. "
    "She wanted to play with it, but it was too high.\n"
    "Lily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do. She said, \"I want to play with your "
    "ball, but I can't find it.\"\n"
    "Lily was sad and didn't know what to do. She said, \"I'm sorry, Lily. I didn't know what to do.\"\n"
    "Lily didn't want to help her mom, so she said, \"I'm sorry, mom. I didn't know what to do.\" Her mom said, \"Don't worry, "
    "Lily. We can help you.";

}  // namespace

TEST(gguf_model, stories260k_greedy_text_matches_the_published_one) {
  LMLAB_SHARED_MODEL(path, "stories260K.gguf");
  auto f = nn::gguf_file::load(path);
  auto m = models::lm_from_gguf(f);
  auto tok = data::tokenizer_from_gguf(f);
  models::sample_options so;
  so.temperature = 0;
  so.max_new_tokens = 256;
  const auto prompt = data::encode_for_generation(*tok, "");
  ASSERT_EQ(prompt, (std::vector<std::int32_t>{1}));
  const auto ids = models::generate(*m, prompt, so);
  std::vector<std::int32_t> expected;
  std::istringstream in(k_greedy_ids);
  for (std::int32_t id; in >> id;) expected.push_back(id);
  ASSERT_EQ(expected.size(), 256u);
  std::vector<std::int32_t> got(ids.end() - 256, ids.end());
  for (std::size_t i = 0; i < 256; ++i) ASSERT_EQ(got[i], expected[i]) << "first difference at generated token " << i;
  std::vector<std::int32_t> all = {1};
  all.insert(all.end(), got.begin(), got.end());
  EXPECT_EQ(tok->decode(all), k_greedy_text);
}

TEST(gguf_model, step_mode_matches_the_forward) {
  LMLAB_SHARED_MODEL(path, "stories260K.gguf");
  auto f = nn::gguf_file::load(path);
  auto m = models::lm_from_gguf(f);
  const std::vector<std::int32_t> ids = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315};
  const auto T = static_cast<std::int64_t>(ids.size());
  tensor logits = m->forward(tensor::from<std::int32_t>({1, T}, ids));  // (1, T, V)
  auto st = m->new_state(1);
  double worst = 0;
  for (std::int64_t t = 0; t < T; ++t) {
    tensor s = m->step(*st, tensor::from<std::int32_t>({1}, {ids[static_cast<std::size_t>(t)]}));
    for (std::int64_t v = 0; v < 512; ++v)
      worst = std::max(worst, std::fabs(static_cast<double>(s.data<float>()[v]) - logits.data<float>()[t * 512 + v]));
  }
  EXPECT_LE(worst, 1e-4) << "largest |step - forward| logit difference";
}

TEST(gguf_model, rotary_permutation_is_invertible) {
  tensor w = tensor::empty({8, 3});
  for (int i = 0; i < 24; ++i) w.data<float>()[i] = static_cast<float>(i);
  tensor h = models::permute_rotary_rows(w, 2, true);
  // Head 0 (rows 0..3): half-split rows are old rows 0, 2, 1, 3.
  EXPECT_EQ(h.data<float>()[1 * 3], 6.0f);
  EXPECT_EQ(h.data<float>()[2 * 3], 3.0f);
  tensor back = models::permute_rotary_rows(h, 2, false);
  for (int i = 0; i < 24; ++i) ASSERT_EQ(back.data<float>()[i], static_cast<float>(i));
}

TEST(gguf_model, stories260k_gguf_to_model_to_gguf_is_byte_identical) {
  LMLAB_SHARED_MODEL(path, "stories260K.gguf");
  const auto orig = read_binary_file(path);
  auto f = nn::gguf_file::parse(orig, path.string());
  auto m = models::lm_from_gguf(f);
  const auto again = models::gguf_from_lm(*m, nn::ggml_type::f32, f.metadata()).encode();
  ASSERT_EQ(again.size(), orig.size());
  EXPECT_TRUE(again == orig);
}

TEST(gguf_model, unsupported_architecture_is_named) {
  LMLAB_SHARED_MODEL(path, "ggml-vocab-phi-3.gguf");
  try {
    models::lm_from_gguf(nn::gguf_file::load(path));
    FAIL();
  } catch (const error& e) {
    EXPECT_NE(std::string(e.what()).find("general.architecture = \"phi3\" is not supported"), std::string::npos) << e.what();
  }
}

// The interpretability hooks work on a loaded real model: caching every hook point,
// activation patching (A's residual stream patched into B's run gives A's logits) and head
// ablation.
TEST(gguf_model, hooks_cache_and_patch_on_stories260k) {
  LMLAB_SHARED_MODEL(path, "stories260K.gguf");
  auto m = models::lm_from_gguf(nn::gguf_file::load(path));
  no_grad ng;
  const tensor a = tensor::from<std::int32_t>({1, 6}, {1, 403, 407, 261, 378, 432});
  const tensor b = tensor::from<std::int32_t>({1, 6}, {1, 261, 376, 298, 315, 421});
  tensor logits_a;
  auto cache = hooks::run_with_cache(*m, [&] { return m->forward(a); }, hooks::all_names, &logits_a);
  ASSERT_TRUE(cache.count("blocks.4.attn.hook_pattern"));
  EXPECT_EQ(cache.at("blocks.4.attn.hook_pattern").shape(), (shape_t{1, 8, 6, 6}));
  EXPECT_EQ(cache.at("blocks.0.attn.hook_k").shape(), (shape_t{1, 6, 4, 8}));  // GQA: 4 KV heads of 8
  tensor patched;
  {
    hooks::hook_scope s(*m);
    s.add("blocks.4.hook_resid_post", hooks::patch_with(cache.at("blocks.4.hook_resid_post")));
    patched = m->forward(b);
  }
  EXPECT_EQ(patched.to_vector(), logits_a.to_vector());
  tensor ablated;
  {
    hooks::hook_scope s(*m);
    s.add("blocks.0.attn.hook_z", hooks::zero_head(3));
    ablated = m->forward(a);
  }
  EXPECT_NE(ablated.to_vector(), logits_a.to_vector());
}
