// MoE and MoD routing on hand-made inputs: capacity, dropped counts, priorities, the Switch
// auxiliary loss by hand. The gates, aux loss, MoD weights and row gathers against naive
// references, and their f64 gradients, are op-table rows (tests/ops/test_op_table.cpp).
#include "ops/routing.hpp"

#include <cmath>

#include "autograd/autograd.hpp"
#include "zoo_op_util.hpp"

using namespace zoo_test;
using lmlab::tensor;

TEST(moe_route, top1_capacity_drops_overflow_in_position_order) {
  // 6 tokens, 3 experts, k = 1, capacity = ceil(1.0 * 6 * 1 / 3) = 2. Tokens 0-4 prefer expert 0.
  tensor logits = tensor::from<double>({6, 3}, {3, 0, 0, 3, 0, 0, 3, 0, 0, 3, 0, 0, 3, 1, 0, 0, 3, 0});
  auto r = lmlab::moe_route(logits, {.k = 1, .capacity_factor = 1.0});
  EXPECT_EQ(r.capacity, 2);
  EXPECT_EQ(r.expert, (std::vector<std::int32_t>{0, 0, 0, 0, 0, 1}));
  EXPECT_EQ(r.slot, (std::vector<std::int32_t>{0, 1, -1, -1, -1, 0}));
  EXPECT_EQ(r.routed, (std::vector<std::int64_t>{5, 1, 0}));
  EXPECT_EQ(r.kept, (std::vector<std::int64_t>{2, 1, 0}));
  EXPECT_EQ(r.dropped_choices, 3);
  EXPECT_EQ(r.dropped_tokens, 3);
  EXPECT_EQ(r.expert_tokens[0], (std::vector<std::int32_t>{0, 1}));
  // k = 1 with renormalisation: a kept gate is 1, a dropped one 0.
  EXPECT_EQ(r.gates.to_vector(), (std::vector<double>{1, 1, 0, 0, 0, 1}));
}

TEST(moe_route, top2_priorities_differ) {
  // 3 tokens, 2 experts, k = 2, capacity = ceil(2/3 * 3 * 2 / 2) = 2. Tokens 0, 1 prefer expert 0, token 2 expert 1.
  tensor logits = tensor::from<double>({3, 2}, {1, 0, 1, 0, 0, 1});
  auto pos = lmlab::moe_route(logits, {.k = 2, .capacity_factor = 2.0 / 3.0, .priority = lmlab::moe_priority::position});
  EXPECT_EQ(pos.capacity, 2);
  EXPECT_EQ(pos.expert, (std::vector<std::int32_t>{0, 1, 0, 1, 1, 0}));
  EXPECT_EQ(pos.slot, (std::vector<std::int32_t>{0, 0, 1, 1, -1, -1}));
  EXPECT_EQ(pos.dropped_choices, 2);
  EXPECT_EQ(pos.dropped_tokens, 1);
  auto rank = lmlab::moe_route(logits, {.k = 2, .capacity_factor = 2.0 / 3.0, .priority = lmlab::moe_priority::choice_rank});
  // First choices first: t0->e0 s0, t1->e0 s1, t2->e1 s0; then t0->e1 s1, t1->e1 dropped, t2->e0 dropped.
  EXPECT_EQ(rank.slot, (std::vector<std::int32_t>{0, 1, 1, -1, 0, -1}));
  EXPECT_EQ(rank.dropped_choices, 2);
  EXPECT_EQ(rank.dropped_tokens, 0);
  EXPECT_EQ(rank.kept, (std::vector<std::int64_t>{2, 2}));
  // Unlimited capacity keeps everything; renormalised top-2 of 2 experts are the probabilities.
  auto all = lmlab::moe_route(logits, {.k = 2});
  EXPECT_EQ(all.dropped_choices, 0);
  const double p = 1.0 / (1.0 + std::exp(-1.0));
  EXPECT_NEAR(all.gates.at({0, 0}), p, 1e-15);
  EXPECT_NEAR(all.gates.at({0, 1}), 1 - p, 1e-15);
}

TEST(moe_route, switch_aux_loss_by_hand) {
  // probs t0 = (0.75, 0.25), t1 = (0.5, 0.5) (tie -> expert 0). f = (1, 0), P = (0.625, 0.375):
  // loss = E * sum f P = 2 * 0.625 = 1.25.
  tensor logits = tensor::from<double>({2, 2}, {std::log(3.0), 0, 0, 0});
  auto r = lmlab::moe_route(logits, {.k = 1});
  EXPECT_NEAR(r.aux_loss.item(), 1.25, 1e-15);
  // Balanced routing with uniform probabilities gives exactly 1.
  tensor bal = tensor::from<double>({2, 2}, {1e-9, 0, 0, 1e-9});
  EXPECT_NEAR(lmlab::moe_route(bal, {.k = 1}).aux_loss.item(), 1.0, 1e-8);
}

TEST(moe_route, errors) {
  tensor logits = tensor::zeros({2, 3}, dtype::f64);
  try {
    lmlab::moe_route(logits, {.k = 4});
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_STREQ(e.what(), "moe_route: k = 4 with 3 experts");
  }
}

TEST(mod_route, top_k_per_sequence_in_position_order) {
  // T = 8, ratio 0.25 -> k = 2. Row 0: 0.9 at 5, 0.8 at 1. Row 1: 1.0 at 3, then a tie at 0.9
  // (positions 2 and 6) that goes to the earlier position.
  tensor w = tensor::from<double>({2, 8}, {0.1, 0.8, 0.0, 0.2, 0.3, 0.9, -1, 0.5,  //
                                           0.0, 0.1, 0.9, 1.0, 0.2, 0.3, 0.9, 0.4});
  auto r = lmlab::mod_route(w, 0.25);
  EXPECT_EQ(r.k, 2);
  EXPECT_EQ(r.indices, (std::vector<std::int32_t>{1, 5, 2, 3}));
  EXPECT_EQ(r.weights.to_vector(), (std::vector<double>{0.8, 0.9, 0.9, 1.0}));
  EXPECT_EQ(lmlab::mod_route(w, 0.3).k, 3);    // ceil(2.4)
  EXPECT_EQ(lmlab::mod_route(w, 0.01).k, 1);   // at least one token
}

TEST(index_rows, gather_and_scatter_add_by_hand) {
  tensor x = tensor::from<double>({3, 2}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(lmlab::index_rows(x, {2, 0, 2}).to_vector(), (std::vector<double>{5, 6, 1, 2, 5, 6}));
  tensor y = tensor::from<double>({2, 2}, {10, 20, 30, 40});
  EXPECT_EQ(lmlab::index_add_rows(x, {1, 1}, y).to_vector(), (std::vector<double>{1, 2, 43, 64, 5, 6}));
  EXPECT_THROW(lmlab::index_rows(x, {3}), lmlab::error);
}
