// The subject-MLP trace (knowledge/trace.hpp) on a tiny untrained 3-layer model: one entry per
// block but the last, the clean probability is the model's confidence in its own answer (as
// score_answers computes it), resampling a block's MLP output does move it, and most_used is
// the block with the lowest ablated probability.
#include "knowledge/trace.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "knowledge/fit.hpp"
#include "lab/run.hpp"
#include "ops/gemm.hpp"

using namespace lmlab;
using namespace lmlab::knowledge;

TEST(knowledge_trace, one_entry_per_block_but_the_last_and_clean_is_the_models_confidence) {
  set_num_threads(1);
  kb_config c;
  c.num_people = 6;
  c.mode = "mixed";
  const auto ds = build(c, 2);
  const nlohmann::json mj = {{"arch", "gpt"}, {"d_model", 16}, {"n_layers", 3}, {"n_heads", 2}, {"pos_encoding", "rope"}};
  auto model = models::make_model(lab::run_model_config(mj, ds), 2);
  model->eval();
  const auto people = make_people(6, 0.5, 2);
  const subject_trace tr = trace_subject_mlps(*model, ds.vocab, people, 4);
  ASSERT_EQ(tr.ablated.size(), 2u);
  EXPECT_EQ(tr.questions, 4);
  double conf = 0;
  for (std::int64_t q = 0; q < 4; ++q) {
    const auto ex = answer_example(ds.vocab, question_tokens(people[static_cast<std::size_t>(q)], static_cast<std::size_t>(q)),
                                   {"unknown"}, "", 0);
    conf += score_answers(*model, {ex}, ds.pad_id)[0].confidence;
  }
  EXPECT_NEAR(tr.clean, conf / 4, 1e-5);
  for (double p : tr.ablated) {
    EXPECT_GT(p, 0.0);
    EXPECT_LT(p, 1.0);
    EXPECT_NE(p, tr.clean);  // another subject's MLP output changes the answer's probability
  }
  EXPECT_EQ(tr.most_used(), tr.ablated[0] <= tr.ablated[1] ? 0 : 1);
  EXPECT_THROW(trace_subject_mlps(*model, ds.vocab, {people[0]}, 1), lmlab::error);
}
