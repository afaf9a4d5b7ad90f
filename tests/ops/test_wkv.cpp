// RWKV-4 WKV beyond its op-table rows (forward vs the literal formula, f64 gradients, large
// keys): a hand-computed case, stability where the literal formula overflows, step mode vs the
// full sequence, the multi-threaded path.
#include "ops/wkv.hpp"

#include <cmath>

#include "autograd/autograd.hpp"
#include "zoo_op_util.hpp"

using namespace zoo_test;
using lmlab::tensor;

TEST(wkv, hand_computed_two_steps) {
  // One channel, w = ln(0.5), u = 0: y0 = v0; y1 = (e^{k0} v0 + e^{k1} v1)/(e^{k0} + e^{k1}) with k0 = k1 = 0
  // -> (v0 + v1)/2 = (1 + 3)/2 = 2.
  tensor w = tensor::from<double>({1}, {std::log(0.5)}), u = tensor::from<double>({1}, {0.0});
  tensor k = tensor::from<double>({1, 2, 1}, {0.0, 0.0}), v = tensor::from<double>({1, 2, 1}, {1.0, 3.0});
  EXPECT_EQ(lmlab::wkv(w, u, k, v).to_vector(), (std::vector<double>{1.0, 2.0}));
}

TEST(wkv, stable_where_naive_overflows) {
  // k = 800 overflows e^k in double; the max-tracking form stays finite and equals the value for
  // k shifted by a constant (WKV is invariant to adding a constant to every k).
  tensor w = tensor::from<double>({2}, {-0.3, -1.0}), u = tensor::from<double>({2}, {0.5, -0.2});
  tensor k = uniform({1, 9, 2}, -2, 2, 7), v = uniform({1, 9, 2}, -1, 1, 8);
  tensor big = k.clone_raw();
  for (std::int64_t i = 0; i < big.numel(); ++i) big.data<double>()[i] += 800.0;
  tensor y = lmlab::wkv(w, u, big, v);
  for (double x : y.to_vector()) EXPECT_TRUE(std::isfinite(x));
  expect_close(y, lmlab::wkv_reference(w, u, k, v), 1e-12, 1e-12, "shifted k");
  EXPECT_TRUE(std::isnan(lmlab::wkv_reference(w, u, big, v).to_vector()[5]));  // the naive form fails here
}

TEST(wkv, step_mode_equals_full_sequence) {
  tensor w = uniform({6}, -1, -0.1, 11), u = uniform({6}, -1, 1, 12);
  tensor k = uniform({2, 10, 6}, -3, 3, 13), v = uniform({2, 10, 6}, -1, 1, 14);
  tensor st_full;
  tensor y = lmlab::wkv(w, u, k, v, &st_full);
  tensor st = lmlab::wkv_initial_state(2, 6, dtype::f64);
  for (std::int64_t t = 0; t < 10; ++t) {
    auto sel = [&](const tensor& x) { return x.narrow_raw(1, t, 1).contiguous_raw().view_raw({2, 6}); };
    expect_close(lmlab::wkv_step(st, w, u, sel(k), sel(v)), sel(y), 1e-14, 1e-13, "wkv step");
  }
  expect_close(st, st_full, 0, 0, "wkv state");
}

TEST(wkv, multithreaded_path_gradients) {
  tensor w = uniform({48}, -1.2, -0.1, 31), u = uniform({48}, -1, 1, 32);
  tensor k = uniform({3, 150, 48}, -3, 3, 33), v = uniform({3, 150, 48}, -1, 1, 34);
  expect_close(lmlab::wkv(w, u, k, v), lmlab::wkv_reference(w, u, k, v), 1e-12, 1e-11, "big wkv");
  expect_spot_gradcheck([](const std::vector<tensor>& x) { return lmlab::wkv(x[0], x[1], x[2], x[3]); }, {w, u, k, v}, 6, "big wkv");
}
