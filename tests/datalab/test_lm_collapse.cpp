// The neural collapse loop (datalab/lm_collapse.hpp) on a toy corpus with a tiny GPT: it learns
// (generation 1 beats the uniform model), it is a pure function of the seed, the workflows
// move the data they should (replace keeps the size, accumulate grows it, replace with all real
// data keeps full coverage), and the collapse_lm task reads its spec.
#include <gtest/gtest.h>

#include <cmath>

#include "../error_of.hpp"
#include "datalab_spec.hpp"
#include "core/error.hpp"
#include "datalab/lm_collapse.hpp"
#include "datalab/runners.hpp"
#include "lab/spec.hpp"
#include "toy_docs.hpp"

namespace dl = lmlab::datalab;

using lmlab::testing::toy_docs;

namespace {
dl::lm_collapse_config tiny() {
  dl::lm_collapse_config c;
  c.data.real_tokens = 1600;
  c.data.heldout_tokens = 640;
  c.data.chunk = 16;
  c.data.s.generations = 3;
  c.model.d_model = 16;
  c.model.n_layers = 1;
  c.model.n_heads = 2;
  c.optim.steps = 60;
  c.optim.batch_size = 8;
  c.optim.lr = 1e-2;
  return c;
}
}  // namespace

TEST(lm_collapse, loop_on_a_toy_corpus) {
  auto c = tiny();
  const auto corpus = dl::prepare_ngram_corpus(toy_docs(10, 0), toy_docs(4, 100), c.data);
  const double V = static_cast<double>(corpus.words.size() - 1);  // <s> is never a target
  for (auto flow : {dl::workflow::replace, dl::workflow::accumulate, dl::workflow::accumulate_subset}) {
    c.data.s.flow = flow;
    const auto r = dl::run_lm_collapse(corpus, c, 1);
    ASSERT_EQ(r.gens.size(), 3u);
    EXPECT_GT(r.n_params, 0);
    // Generation 1 has learned something: below the uniform model's perplexity V.
    EXPECT_LT(r.gens[0].heldout_ppl, 0.8 * V) << "V = " << V;
    EXPECT_DOUBLE_EQ(r.gens[0].coverage_1, 1.0);
    for (const auto& g : r.gens) {
      EXPECT_EQ(g.train_tokens, flow == dl::workflow::accumulate ? 1600.0 * g.generation : 1600.0);
      EXPECT_TRUE(std::isfinite(g.train_loss));
      EXPECT_GT(g.distinct_1, 0.0);
      EXPECT_LE(g.distinct_2, 1.0);
      EXPECT_GE(g.tail_coverage, 0.0);
      EXPECT_LE(g.tail_coverage, 1.0);
    }
  }
  // A pure function of the seed.
  c.data.s.flow = dl::workflow::replace;
  const auto a = dl::run_lm_collapse(corpus, c, 7), b = dl::run_lm_collapse(corpus, c, 7);
  for (std::size_t i = 0; i < a.gens.size(); ++i) {
    EXPECT_EQ(a.gens[i].heldout_ppl, b.gens[i].heldout_ppl);
    EXPECT_EQ(a.gens[i].self_bleu, b.gens[i].self_bleu);
  }
  // Replace with only real data: every generation trains on the whole real sample again.
  c.data.s.real_fraction = 1.0;
  const auto real = dl::run_lm_collapse(corpus, c, 2);
  for (const auto& g : real.gens) {
    EXPECT_DOUBLE_EQ(g.coverage_1, 1.0);
    EXPECT_DOUBLE_EQ(g.coverage_2, 1.0);
  }
}

// Temperature is a knob of the sampler: near T = 0 sampling is greedy, so every chunk (all
// start from <s>) is the same one, and the samples' distinct bigrams are at most one chunk's
// 15 of the 100 chunks × 15 bigrams: distinct-2 <= 0.01 in every generation.
TEST(lm_collapse, near_zero_temperature_samples_one_chunk) {
  auto c = tiny();
  const auto corpus = dl::prepare_ngram_corpus(toy_docs(10, 0), toy_docs(4, 100), c.data);
  c.data.s.temperature = 1e-3;
  const auto r = dl::run_lm_collapse(corpus, c, 3);
  for (const auto& g : r.gens) EXPECT_LE(g.distinct_2, 15.0 / (100 * 15) + 1e-12) << "generation " << g.generation;
  c.data.s.temperature = 1.0;
  EXPECT_GT(dl::run_lm_collapse(corpus, c, 3).gens[0].distinct_2, 0.05);
}

TEST(lm_collapse, bad_settings_are_named) {
  auto c = tiny();
  const auto corpus = dl::prepare_ngram_corpus(toy_docs(10, 0), toy_docs(4, 100), c.data);
  c.data.s.temperature = 0;
  EXPECT_THROW(dl::run_lm_collapse(corpus, c, 1), lmlab::error);
  c = tiny();
  c.model.n_heads = 3;  // does not divide d_model 16
  const std::string msg = lmlab::testing::error_of([&] { dl::run_lm_collapse(corpus, c, 1); });
  EXPECT_NE(msg.find("model."), std::string::npos) << "a bad model was accepted: " << msg;
  const auto spec = lmlab::testing::datalab_spec(
      "name = \"l\"\nseeds = [0, 1]\n[model]\nd_model = 16\nn_layers = 1\n[task]\nname = \"collapse_lm\"\ngenerations = 2\n"
      "workflow = [\"replace\", \"accumulate\"]\n[train]\nsteps = 10\n",
      "l.toml");
  EXPECT_EQ(spec.runs.size(), 4u);
  const std::string msg2 = lmlab::testing::datalab_spec_error(
      "name = \"l\"\n[task]\nname = \"collapse_lm\"\nchunk = 1\n", "l.toml");
  EXPECT_NE(msg2.find("task.chunk"), std::string::npos) << "chunk = 1 was accepted: " << msg2;
}
