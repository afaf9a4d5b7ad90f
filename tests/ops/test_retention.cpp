// RetNet retention beyond its op-table rows (parallel and chunkwise forms vs the recurrent one,
// f64 gradients): the paper's gammas, a hand-computed case, the three forms' states agreeing
// over chunk sizes, steps after a chunkwise prefill.
#include "ops/retention.hpp"

#include "autograd/autograd.hpp"
#include "zoo_op_util.hpp"

using namespace zoo_test;
using lmlab::tensor;

TEST(retention, paper_gammas) {
  const auto g = lmlab::retnet_gammas(4);
  EXPECT_EQ(g, (std::vector<double>{1 - 1.0 / 32, 1 - 1.0 / 64, 1 - 1.0 / 128, 1 - 1.0 / 256}));
}

TEST(retention, hand_computed_one_head) {
  // K = V = 1, gamma = 0.5: o_0 = q0 k0 v0 = 1*2*3 = 6; o_1 = q1 (0.5 k0 v0 + k1 v1) = 2 (3 + 1*1) = 8.
  tensor q = tensor::from<double>({1, 1, 2, 1}, {1, 2}), k = tensor::from<double>({1, 1, 2, 1}, {2, 1});
  tensor v = tensor::from<double>({1, 1, 2, 1}, {3, 1});
  EXPECT_EQ(lmlab::retention_parallel(q, k, v, {0.5}).to_vector(), (std::vector<double>{6, 8}));
  EXPECT_EQ(lmlab::retention_recurrent(q, k, v, {0.5}).to_vector(), (std::vector<double>{6, 8}));
  EXPECT_EQ(lmlab::retention_chunkwise(q, k, v, {0.5}, 1).to_vector(), (std::vector<double>{6, 8}));
}

TEST(retention, parallel_recurrent_chunkwise_agree) {
  for (dtype t : {dtype::f64, dtype::f32}) {
    tensor q = uniform({2, 3, 29, 6}, -1, 1, 1, t), k = uniform({2, 3, 29, 6}, -1, 1, 2, t), v = uniform({2, 3, 29, 5}, -1, 1, 3, t);
    const auto g = lmlab::retnet_gammas(3);
    const double atol = t == dtype::f64 ? 1e-12 : 1e-4, rtol = t == dtype::f64 ? 1e-12 : 1e-4;
    tensor par = lmlab::retention_parallel(q, k, v, g);
    tensor st_rec, st_chunk;
    expect_close(lmlab::retention_recurrent(q, k, v, g, &st_rec), par, atol, rtol, "recurrent vs parallel");
    for (std::int64_t chunk : {1, 4, 8, 29, 64}) {  // 29 % 4 != 0: a short last chunk
      expect_close(lmlab::retention_chunkwise(q, k, v, g, chunk, &st_chunk), par, atol, rtol, "chunkwise vs parallel");
      expect_close(st_chunk, st_rec, atol, rtol, "chunkwise state vs recurrent state");
    }
  }
}

TEST(retention, continuing_from_chunkwise_state_with_steps) {
  tensor q = uniform({1, 2, 12, 4}, -1, 1, 21), k = uniform({1, 2, 12, 4}, -1, 1, 22), v = uniform({1, 2, 12, 4}, -1, 1, 23);
  const auto g = lmlab::retnet_gammas(2);
  tensor full = lmlab::retention_parallel(q, k, v, g);
  tensor st;
  lmlab::retention_chunkwise(q.narrow_raw(2, 0, 8), k.narrow_raw(2, 0, 8), v.narrow_raw(2, 0, 8), g, 3, &st);
  for (std::int64_t t = 8; t < 12; ++t) {
    auto sel = [t](const tensor& x) { return x.narrow_raw(2, t, 1).contiguous_raw().view_raw({1, 2, 4}); };
    expect_close(lmlab::retention_step(st, sel(q), sel(k), sel(v), g), sel(full), 1e-13, 1e-12, "step after prefill");
  }
}
