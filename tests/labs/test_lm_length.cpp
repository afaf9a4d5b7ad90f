// The corpus_lm_length task and its scorer (labs/lm_length.hpp): test windows at T, 2T, ...
// from the held-out documents with one vocabulary, and a perplexity equal to exp of the
// engine's own cross-entropy on the same windows.
#include "labs/lm_length.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "autograd/autograd.hpp"
#include "core/error.hpp"
#include "../lm_test_config.hpp"
#include "models/lm.hpp"
#include "ops/loss.hpp"
#include "ops/shape.hpp"
#include "tasks/registry.hpp"

namespace lb = lmlab::labs;
using lmlab::tensor;

namespace {
std::vector<std::string> docs() {
  std::vector<std::string> d;
  for (int i = 0; i < 20; ++i)
    d.push_back(i % 10 == 0 ? "the quick brown fox jumps over the lazy dog, again and again and again." : "abcabcabcabcabcabcabcabcabcabc");
  return d;
}
}  // namespace

TEST(corpus_lm_length, one_slice_per_length_from_held_out_text) {
  lb::lm_length_config c{.seq_len = 4, .max_factor = 8, .num_train = 30, .num_test = 5};
  const auto ds = lb::build_lm_length(c, docs(), 1);
  ASSERT_EQ(ds.train.size(), 30u);
  for (const auto& e : ds.train) EXPECT_EQ(e.input.size(), 4u);
  ASSERT_EQ(ds.test.size(), 4u * 5u);
  const std::int64_t lengths[] = {4, 8, 16, 32};
  for (std::size_t k = 0; k < 4; ++k)
    for (std::size_t j = 0; j < 5; ++j) {
      const auto& e = ds.test[k * 5 + j];
      EXPECT_EQ(static_cast<std::int64_t>(e.input.size()), lengths[k]);
      EXPECT_EQ(e.slice, "len=" + std::to_string(lengths[k]));
      EXPECT_EQ(e.difficulty, static_cast<double>(lengths[k]));
      for (std::size_t t = 0; t + 1 < e.input.size(); ++t) EXPECT_EQ(e.target[t], e.input[t + 1]);
      // Held-out text only: the training documents are "abc..." and have no 'q', 'o' or ' '.
      const std::string text = ds.vocab.decode(e.input, "");
      EXPECT_EQ(text.find("abca"), std::string::npos) << text;
    }
  c.seq_len = 40;  // 8 x 40 is longer than the held-out text
  EXPECT_THROW(lb::build_lm_length(c, docs(), 1), lmlab::error);
}

TEST(corpus_lm_length, max_factor_must_be_a_power_of_two) {
  lb::register_lm_length();
  const auto& t = lmlab::tasks::find_task("corpus_lm_length");
  EXPECT_NO_THROW(t.canonical({{"max_factor", 4}}));
  EXPECT_THROW(t.canonical({{"max_factor", 6}}), lmlab::error);
  EXPECT_THROW(t.canonical({{"seq_length", 6}}), lmlab::error);  // unknown key
}

TEST(corpus_lm_length, perplexity_is_exp_of_the_engine_cross_entropy) {
  lb::lm_length_config c{.seq_len = 4, .max_factor = 4, .num_train = 8, .num_test = 3};
  const auto ds = lb::build_lm_length(c, docs(), 2);
  for (const std::string pe : {"alibi", "sinusoidal"}) {
    auto mc = lmlab::testing::small_lm(ds.vocab.size(), 16, 2, 2, 16);
    mc.pos_encoding = pe;
    auto model = lmlab::models::make_model(mc, 5);
    const auto scores = lb::score_lm_length(*model, ds);
    ASSERT_EQ(scores.size(), 3u);
    for (std::int64_t L : {4, 8, 16}) {
      const auto& s = scores.at("len=" + std::to_string(L));
      EXPECT_EQ(s.windows, 3);
      EXPECT_EQ(s.tokens, 3 * L);
      std::vector<std::size_t> idx;
      for (std::size_t i = 0; i < ds.test.size(); ++i)
        if (ds.test[i].slice == "len=" + std::to_string(L)) idx.push_back(i);
      const auto b = lmlab::tasks::make_batch(ds.test, idx, ds.pad_id);
      lmlab::no_grad ng;
      tensor logits = model->forward(tensor::from<std::int32_t>({b.B, b.T}, std::span<const std::int32_t>(b.input)));
      tensor tg = tensor::from<std::int32_t>({b.B * b.T}, std::span<const std::int32_t>(b.target));
      const double ce = lmlab::cross_entropy(lmlab::reshape(logits, {b.B * b.T, logits.size(2)}), tg).item();
      EXPECT_NEAR(s.mean_nll(), ce, 1e-5) << pe << " len " << L;
      EXPECT_GE(s.accuracy(), 0.0);
      EXPECT_LE(s.accuracy(), 1.0);
    }
  }
}
