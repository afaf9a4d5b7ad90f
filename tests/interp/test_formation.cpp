// Induction-head formation (formation.hpp): per-position losses against hand values, the
// training batches (repeated halves, shifted targets, deterministic), the summary's phase steps
// on hand-made evaluation points, and one evaluation of a tiny model.
#include "interp/formation.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "core/error.hpp"
#include "models/lm.hpp"
#include "tasks/dataset.hpp"
#include "../lm_test_config.hpp"

using namespace lmlab;
using namespace lmlab::interp;

TEST(formation, next_token_losses_match_hand_values) {
  // B = 1, T = 3, V = 4. Position 0: uniform logits -> ln 4. Position 1: logits (0, 0, ln 3, 0)
  // for target 2 -> p = 3/6 -> ln 2. Position 2 has no next token.
  const float l3 = static_cast<float>(std::log(3.0));
  const tensor logits = tensor::from<float>({1, 3, 4}, {0, 0, 0, 0, 0, 0, l3, 0, 5, 5, 5, 5});
  const tensor ids = tensor::from<std::int32_t>({1, 3}, {1, 3, 2});
  const auto loss = next_token_losses(logits, ids);
  ASSERT_EQ(loss.size(), 2u);
  EXPECT_NEAR(loss[0], std::log(4.0), 1e-6);
  EXPECT_NEAR(loss[1], std::log(2.0), 1e-6);
  EXPECT_THROW(next_token_losses(logits, tensor::from<std::int32_t>({1, 2}, {1, 3})), lmlab::error);
}

TEST(formation, batches_repeat_their_first_half_and_are_a_function_of_seed_and_step) {
  formation_task t;
  t.vocab_size = 7;
  t.half_len = 5;
  t.min_half_len = 5;  // the plain repeated test: no filler
  const auto a = formation_batch_at(t, 3, 42, 10), b = formation_batch_at(t, 3, 42, 10), c = formation_batch_at(t, 3, 42, 11);
  ASSERT_EQ(a.inputs.shape(), (shape_t{3, 10}));
  const auto in = a.inputs.to_vector(), tg = a.targets.to_vector();
  EXPECT_EQ(in, b.inputs.to_vector());
  EXPECT_NE(in, c.inputs.to_vector());
  for (int r = 0; r < 3; ++r)
    for (int i = 0; i < 10; ++i) {
      const double x = in[static_cast<std::size_t>(r * 10 + i)];
      EXPECT_GE(x, 0);
      EXPECT_LT(x, 7);
      if (i < 5) {
        EXPECT_EQ(x, in[static_cast<std::size_t>(r * 10 + i + 5)]);
      }
      EXPECT_EQ(tg[static_cast<std::size_t>(r * 10 + i)], i < 9 ? in[static_cast<std::size_t>(r * 10 + i + 1)] : tasks::ignore_index);
    }
}

TEST(formation, training_segments_vary_in_length_and_end_the_sequence_repeated) {
  formation_task t;
  t.vocab_size = 1000;  // chance repeats of a token are rare
  t.half_len = 8;       // segments of 4 .. 8 tokens (min_half_len 0: n / 2)
  const auto a = formation_batch_at(t, 64, 3, 0);
  const auto in = a.inputs.to_vector();
  std::set<int> lengths;
  for (int r = 0; r < 64; ++r) {
    const double* row = in.data() + r * 16;
    int m = 0;  // the longest m whose last 2m tokens are a segment repeated
    for (int k = 8; k >= 1 && m == 0; --k)
      if (std::equal(row + 16 - 2 * k, row + 16 - k, row + 16 - k)) m = k;
    EXPECT_GE(m, 4);
    lengths.insert(m);
  }
  EXPECT_GE(lengths.size(), 4u);  // the distance to the copy varies
  t.min_half_len = 9;
  EXPECT_THROW(tasks::task_from_table("induction_formation", "", formation_params()).canonical({{"name", "induction_formation"}, {"half_len", 8}, {"min_half_len", 9}}),
               lmlab::error);
}

TEST(formation, summary_finds_the_first_steps_past_each_threshold) {
  formation_task t;  // vocab 64: the final second-half loss must be <= 0.5 ln 64 = 2.079 nats
  t.induction_threshold = 0.3;
  std::vector<formation_point> pts(5);
  // Induction: midpoint (0.02 + 0.7) / 2 = 0.36, first reached at step 200. Second-half loss:
  // midpoint (4.2 + 0.9) / 2 = 2.55, first reached at step 300.
  const double ind[] = {0.02, 0.05, 0.5, 0.8, 0.7}, second[] = {4.2, 4.0, 3.0, 2.0, 0.9};
  for (int i = 0; i < 5; ++i) {
    pts[static_cast<std::size_t>(i)].step = 100 * i;
    pts[static_cast<std::size_t>(i)].max_induction = ind[i];
    pts[static_cast<std::size_t>(i)].loss_second = second[i];
    pts[static_cast<std::size_t>(i)].icl_score = second[i] - 4.2;
  }
  const auto s = summarize(pts, t, 400);
  EXPECT_EQ(s.induction_step, 200);
  EXPECT_EQ(s.icl_step, 300);
  EXPECT_DOUBLE_EQ(s.lag_fraction, 0.25);
  EXPECT_DOUBLE_EQ(s.peak_induction, 0.8);
  EXPECT_DOUBLE_EQ(s.final_induction, 0.7);
  EXPECT_NEAR(s.final_icl, 0.9 - 4.2, 1e-12);
  pts.resize(2);  // the last point below both thresholds: no steps, no lag
  const auto n = summarize(pts, t, 400);
  EXPECT_EQ(n.induction_step, -1);
  EXPECT_EQ(n.icl_step, -1);
  EXPECT_EQ(n.lag_fraction, -1);
}

TEST(formation, evaluation_of_a_tiny_model_is_consistent_and_needs_attention) {
  models::lm_config c = lmlab::testing::small_lm(11, 16, 2, 2, 16);
  auto model = models::make_model(c, 3);
  formation_task t;
  t.vocab_size = 11;
  t.half_len = 6;
  const auto b = formation_batch_at(t, 4, 7, 0);
  const auto p = evaluate_formation(*model, b.inputs, 6);
  EXPECT_NEAR(p.icl_score, p.loss_second - p.loss_first, 1e-12);
  EXPECT_GT(p.loss_first, 0);
  EXPECT_GT(p.max_induction, 0);
  EXPECT_LE(p.max_induction, 1);
  EXPECT_GT(p.max_prev_token, 0);
  EXPECT_LE(p.max_prev_token, 1);
  c.pattern = "MM";
  auto mamba = models::make_model(c, 3);
  EXPECT_THROW(evaluate_formation(*mamba, b.inputs, 6), lmlab::error);
  EXPECT_THROW(evaluate_formation(*model, b.inputs, 5), lmlab::error);
}

TEST(formation, schema_fills_defaults_and_checks_ranges) {
  const auto info = tasks::task_from_table("induction_formation", "", formation_params());
  const auto j = info.canonical({{"name", "induction_formation"}, {"half_len", 8}});
  EXPECT_EQ(j["half_len"], 8);
  EXPECT_EQ(j["vocab_size"], 64);
  EXPECT_THROW(info.canonical({{"name", "induction_formation"}, {"half_len", 1}}), lmlab::error);
  EXPECT_THROW(info.canonical({{"name", "induction_formation"}, {"bogus", 1}}), lmlab::error);
}
