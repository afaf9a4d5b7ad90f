// Griffin RG-LRU beyond its op-table rows (fused scan vs the plain loop, which uses
// pow(sigma(lambda), c r) literally; f64 gradients): a hand-computed case, step mode vs the
// full sequence, the multi-threaded path.
#include "ops/rglru.hpp"

#include <cmath>

#include "autograd/autograd.hpp"
#include "zoo_op_util.hpp"

using namespace zoo_test;
using lmlab::tensor;

TEST(rglru, hand_computed_one_channel) {
  // lambda = 0 -> a = 1/2; c = 1, r = 1 -> a_t = 1/2, sqrt(1 - 1/4) = sqrt(3)/2.
  // h0 = sqrt(3)/2 * (1 * 2) = sqrt(3); h1 = sqrt(3)/2 + sqrt(3)/2 * (0.5 * -2) = 0.
  tensor x = tensor::from<double>({1, 2, 1}, {2.0, -2.0}), r = tensor::from<double>({1, 2, 1}, {1.0, 1.0});
  tensor i = tensor::from<double>({1, 2, 1}, {1.0, 0.5}), lam = tensor::from<double>({1}, {0.0});
  tensor h = lmlab::rglru(x, r, i, lam, 1.0);
  EXPECT_NEAR(h.at({0, 0, 0}), std::sqrt(3.0), 1e-15);
  EXPECT_NEAR(h.at({0, 1, 0}), 0.0, 1e-15);
}

TEST(rglru, step_mode_equals_full_sequence) {
  tensor x = uniform({2, 9, 5}, -1, 1, 11), r = uniform({2, 9, 5}, 0.05, 0.95, 12);
  tensor i = uniform({2, 9, 5}, 0.05, 0.95, 13), lam = uniform({5}, -1, 3, 14);
  tensor last;
  tensor h = lmlab::rglru(x, r, i, lam, 8.0, &last);
  tensor st = tensor::zeros({2, 5}, dtype::f64);
  for (std::int64_t t = 0; t < 9; ++t) {
    auto sel = [&](const tensor& v) { return v.narrow_raw(1, t, 1).contiguous_raw().view_raw({2, 5}); };
    expect_close(lmlab::rglru_step(st, sel(x), sel(r), sel(i), lam), sel(h), 1e-15, 1e-13, "rglru step");
  }
  expect_close(st, last, 0, 0, "rglru state");
}

TEST(rglru, multithreaded_path_gradients) {
  tensor x = uniform({3, 80, 130}, -1, 1, 31), r = uniform({3, 80, 130}, 0.05, 0.95, 32);
  tensor i = uniform({3, 80, 130}, 0.05, 0.95, 33), lam = uniform({130}, -1, 3, 34);
  expect_spot_gradcheck([](const std::vector<tensor>& v) { return lmlab::rglru(v[0], v[1], v[2], v[3]); }, {x, r, i, lam}, 6, "big rglru");
}
