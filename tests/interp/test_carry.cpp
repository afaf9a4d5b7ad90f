// The carry probe-steer-patch pipeline (carry.hpp) on an untrained model: items carry the right
// labels and tokens, the residual sites come in depth order, steering by zero changes nothing,
// and the patching grid is 0 before the first corrupted position and exactly 1 where the last
// residual is restored; per-row logit differences against hand values.
#include "interp/carry.hpp"

#include <gtest/gtest.h>

#include "autograd/autograd.hpp"
#include "core/error.hpp"
#include "interp/interp.hpp"
#include "models/lm.hpp"
#include "tasks/registry.hpp"
#include "../lm_test_config.hpp"

using namespace lmlab;
using namespace lmlab::interp;

namespace {
struct fixture {
  carry_task task;
  tasks::dataset ds;
  std::unique_ptr<models::lm> model;
  fixture() {
    task.num_train = 50;
    task.num_test = 10;
    task.patch_pairs = 6;
    ds = tasks::build_task(arithmetic_task_json(task), 0);
    models::lm_config c = lmlab::testing::small_lm(ds.vocab.size(), 16, 2, 2, 16);
    c.init_std = 0.2;
    model = models::make_model(c, 5);
    model->eval();
  }
  int digit(std::int32_t tok) const { return std::stoi(ds.vocab.token(tok)); }
};
}  // namespace

TEST(carry, items_carry_their_labels_and_end_at_the_first_answer_digit) {
  fixture f;
  const auto items = carry_items(f.ds, f.task, 3, 200);
  ASSERT_EQ(items.size(), 200u);
  int carries = 0;
  for (const auto& it : items) {
    // <bos> base 1 0 : a1 a0 + b1 b0 = s0
    ASSERT_EQ(it.ids.size(), 12u) << f.ds.vocab.decode(it.ids);
    EXPECT_EQ(f.ds.vocab.token(it.ids[10]), "=");
    const int a0 = f.digit(it.ids[6]), b0 = f.digit(it.ids[9]), a1 = f.digit(it.ids[5]), b1 = f.digit(it.ids[8]);
    EXPECT_EQ(it.carry, a0 + b0 >= 10 ? 1 : 0);
    EXPECT_EQ(it.type, a0 * 10 + b0);
    EXPECT_EQ(f.digit(it.s0), (a0 + b0) % 10);
    EXPECT_EQ(it.ids.back(), it.s0);
    EXPECT_EQ(f.digit(it.s1), (a1 + b1 + it.carry) % 10);
    EXPECT_EQ(f.digit(it.other), (a1 + b1 + 1 - it.carry) % 10);
    carries += it.carry;
  }
  EXPECT_GT(carries, 60);  // P(carry) = 45/100
  EXPECT_LT(carries, 120);
}

TEST(carry, residual_sites_come_in_depth_order) {
  fixture f;
  const auto s = residual_sites(*f.model);
  ASSERT_EQ(s.size(), 5u);
  const double depth[] = {0, 0.5, 1, 1.5, 2};
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(s[i].second, depth[i]) << s[i].first;
  EXPECT_EQ(s.front().first, "blocks.0.hook_resid_pre");
  EXPECT_EQ(s.back().first, "blocks.1.hook_resid_post");
}

TEST(carry, steering_by_zero_changes_nothing) {
  fixture f;
  const auto items = carry_items(f.ds, f.task, 1, 40);
  const tensor ids = tensor::from<std::int32_t>({2, 12}, std::span<const std::int32_t>([&] {
                                                  auto v = items[0].ids;
                                                  v.insert(v.end(), items[1].ids.begin(), items[1].ids.end());
                                                  return v;
                                                }()));
  tensor plain;
  {
    no_grad ng;
    plain = f.model->forward(ids);
  }
  const std::vector<double> dir(16, 0.5);
  const tensor zero = forward_adding_at(*f.model, ids, "blocks.1.hook_resid_pre", dir, {0.0}, -1);
  EXPECT_EQ(plain.to_vector(), zero.to_vector());
  const tensor moved = forward_adding_at(*f.model, ids, "blocks.1.hook_resid_pre", dir, {3.0, 0.0}, -1);
  const auto a = plain.to_vector(), b = moved.to_vector();
  const std::size_t V = static_cast<std::size_t>(plain.size(2));
  // Row 1 (scale 0) unchanged; row 0 unchanged before the steered (last) position, changed at it.
  for (std::size_t i = 12 * V; i < 24 * V; ++i) EXPECT_EQ(a[i], b[i]);
  for (std::size_t i = 0; i < 11 * V; ++i) EXPECT_EQ(a[i], b[i]);
  EXPECT_NE(std::vector<double>(a.begin() + 11 * V, a.begin() + 12 * V), std::vector<double>(b.begin() + 11 * V, b.begin() + 12 * V));
  EXPECT_THROW(forward_adding_at(*f.model, ids, "blocks.1.hook_resid_pre", std::vector<double>(3, 1.0), {1.0}, -1), lmlab::error);

  depth_probe p;
  p.hook = "blocks.1.hook_resid_pre";
  p.position = -1;
  p.direction = dir;
  p.gap = 1;
  const auto rows = steer_carry(*f.model, items, p, {0.0}, 7);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].flip_probe, rows[0].flip_random);
  EXPECT_EQ(rows[0].acc_probe, rows[0].acc_random);
}

TEST(carry, patching_grid_is_causal_and_restores_the_clean_run_at_the_last_residual) {
  fixture f;
  const carry_patch p = patch_carry(*f.model, f.ds, f.task, 11);
  EXPECT_EQ(p.pos_a0, 6);
  EXPECT_EQ(p.pos_b0, 9);
  EXPECT_EQ(p.pos_s0, 11);
  ASSERT_EQ(p.cells.size(), 5u * 12u);
  ASSERT_NE(p.clean, p.corrupted);
  for (const auto& c : p.cells) {
    SCOPED_TRACE(::testing::Message() << "depth " << c.depth << " pos " << c.pos);
    if (c.pos < p.pos_a0) {
      EXPECT_EQ(c.effect, 0.0);  // identical inputs there
    }
    if (c.depth == 2 && c.pos == p.pos_s0) {
      EXPECT_NEAR(c.effect, 1.0, 1e-9);
    }
    if (c.depth == 2 && c.pos < p.pos_s0) {
      EXPECT_EQ(c.effect, 0.0);  // the last residual only feeds its own logits
    }
  }
}

TEST(carry, logit_diff_rows_matches_hand_values) {
  // B = 2, T = 1, V = 3.
  const tensor lg = tensor::from<float>({2, 1, 3}, {1, 4, 2, 0, -1, 5});
  EXPECT_DOUBLE_EQ(logit_diff_rows(lg, {1, 2}, {0, 1}), ((4 - 1) + (5 + 1)) / 2.0);
  EXPECT_THROW(logit_diff_rows(lg, {1}, {0}), lmlab::error);
  EXPECT_THROW(logit_diff_rows(lg, {1, 3}, {0, 0}), lmlab::error);
}
