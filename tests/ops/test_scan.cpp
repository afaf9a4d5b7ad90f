// Mamba kernels beyond their op-table rows (tests/ops/test_op_table.cpp: forward vs the naive
// loop, f64 gradients): the f32 exp over decay regimes, a hand-computed case, step mode vs the
// full sequence, shape errors, the multi-threaded path, and the causal conv1d by hand.
#include "ops/scan.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "autograd/autograd.hpp"
#include "ops/ops.hpp"
#include "zoo_op_util.hpp"

using namespace zoo_test;
using lmlab::tensor;

namespace {
struct scan_inputs {
  tensor u, delta, A, Bm, Cm, D;
};
scan_inputs make_scan(std::int64_t B, std::int64_t T, std::int64_t D, std::int64_t N, dtype t, std::uint64_t seed) {
  return {uniform({B, T, D}, -1, 1, seed, t),         uniform({B, T, D}, 0.05, 0.8, seed + 1, t),
          uniform({D, N}, -2.0, -0.1, seed + 2, t),   uniform({B, T, N}, -1, 1, seed + 3, t),
          uniform({B, T, N}, -1, 1, seed + 4, t),     uniform({D}, -1, 1, seed + 5, t)};
}
}  // namespace

TEST(selective_scan, f32_fast_exp_over_decay_regimes) {
  // The f32 path takes exp(delta A) from exp_fast (ops/vexp.hpp). Decays from ~1 (a = e^-0.001)
  // to far below FLT_MIN (delta A down to -400, where exp_fast flushes to 0 and the state is
  // reset to delta B u), with the multi-threaded path (4*96*40*16 updates) and a ragged block.
  for (auto [a_lo, a_hi, d_lo, d_hi] : {std::array<double, 4>{-0.1, -0.01, 0.01, 0.1}, std::array<double, 4>{-200, -20, 0.5, 2.0}}) {
    auto in = make_scan(4, 96, 40, 16, dtype::f32, 71);
    in.A = uniform({40, 16}, a_lo, a_hi, 72, dtype::f32);
    in.delta = uniform({4, 96, 40}, d_lo, d_hi, 73, dtype::f32);
    tensor y = lmlab::selective_scan(in.u, in.delta, in.A, in.Bm, in.Cm, in.D);
    tensor r = lmlab::selective_scan_reference(in.u, in.delta, in.A, in.Bm, in.Cm, in.D);
    expect_close(y, r, 5e-5, 1e-4, "f32 scan vs naive");
  }
}

TEST(selective_scan, hand_computed_single_channel) {
  // B=T... one channel, N=1: h0 = e^{0.5*-1}*0 + 0.5*2*1 = 1; y0 = 3*1 + 0.25*1 = 3.25
  // h1 = e^{-1}*1 + 1*1*(-1)*... u1=-1, delta1=1, B1=1: h1 = e^{-1} - 1; y1 = 1*(e^{-1}-1) + 0.25*(-1)
  tensor u = tensor::from<double>({1, 2, 1}, {1.0, -1.0});
  tensor dl = tensor::from<double>({1, 2, 1}, {0.5, 1.0});
  tensor A = tensor::from<double>({1, 1}, {-1.0});
  tensor Bm = tensor::from<double>({1, 2, 1}, {2.0, 1.0});
  tensor Cm = tensor::from<double>({1, 2, 1}, {3.0, 1.0});
  tensor D = tensor::from<double>({1}, {0.25});
  tensor y = lmlab::selective_scan(u, dl, A, Bm, Cm, D);
  EXPECT_NEAR(y.at({0, 0, 0}), 3.25, 1e-15);
  EXPECT_NEAR(y.at({0, 1, 0}), std::exp(-1.0) - 1.0 - 0.25, 1e-15);
}

TEST(selective_scan, step_mode_equals_full_sequence) {
  auto in = make_scan(2, 12, 10, 4, dtype::f64, 21);
  tensor last;
  tensor y = lmlab::selective_scan(in.u, in.delta, in.A, in.Bm, in.Cm, in.D, &last);
  tensor state = tensor::zeros({2, 10, 4}, dtype::f64);
  for (std::int64_t t = 0; t < 12; ++t) {
    auto sel = [&](const tensor& x) { return x.narrow_raw(1, t, 1).contiguous_raw().view_raw({x.size(0), x.size(2)}); };
    tensor yt = lmlab::selective_scan_step(state, sel(in.u), sel(in.delta), in.A, sel(in.Bm), sel(in.Cm), in.D);
    expect_close(yt, sel(y), 1e-13, 1e-12, "step vs full");
  }
  expect_close(state, last, 1e-13, 1e-12, "final state");
}

TEST(selective_scan, shape_errors_name_the_input) {
  auto in = make_scan(2, 5, 4, 3, dtype::f64, 41);
  try {
    lmlab::selective_scan(in.u, in.delta, in.A, in.Cm.narrow_raw(1, 0, 4), in.Cm, in.D);
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_STREQ(e.what(), "selective_scan: B must be [2, 5, 3] (batch, time, d_state), got [2, 4, 3]");
  }
}

TEST(causal_conv1d, matches_hand_computed_taps) {
  // One channel, K=3, w = [1, 2, 3] (oldest..newest), bias 0.5: y_t = 0.5 + x_{t-2} + 2 x_{t-1} + 3 x_t.
  tensor x = tensor::from<double>({1, 4, 1}, {1, 2, 3, 4});
  tensor w = tensor::from<double>({1, 3}, {1, 2, 3});
  tensor b = tensor::from<double>({1}, {0.5});
  tensor y = lmlab::causal_conv1d(x, w, b);
  EXPECT_EQ(y.to_vector(), (std::vector<double>{3.5, 8.5, 14.5, 20.5}));
}

TEST(causal_conv1d, step_mode) {
  tensor x = uniform({2, 6, 5}, -1, 1, 51), w = uniform({5, 4}, -1, 1, 52), b = uniform({5}, -1, 1, 53);
  tensor st_full;
  tensor y = lmlab::causal_conv1d(x, w, b, &st_full);
  tensor st = tensor::zeros({2, 3, 5}, dtype::f64);
  for (std::int64_t t = 0; t < 6; ++t) {
    tensor xt = x.narrow_raw(1, t, 1).contiguous_raw().view_raw({2, 5});
    tensor yt = lmlab::causal_conv1d_step(st, xt, w, b);
    expect_close(yt, y.narrow_raw(1, t, 1).contiguous_raw().view_raw({2, 5}), 1e-14, 1e-13, "conv step");
  }
  expect_close(st, st_full, 0, 0, "conv state");
}

// A column slice of a wider (B, T, C') tensor (Mamba's x half of in_proj) is read in place;
// output and every gradient equal the contiguous copy's exactly (the same arithmetic).
TEST(causal_conv1d, column_slice_read_in_place_equals_contiguous_copy) {
  tensor xz = uniform({2, 6, 9}, -1, 1, 54), w = uniform({4, 3}, -1, 1, 55), b = uniform({4}, -1, 1, 56);
  auto run = [&](bool as_view) {
    tensor xzl = xz.clone_raw().set_requires_grad(true), wl = w.clone_raw().set_requires_grad(true);
    tensor bl = b.clone_raw().set_requires_grad(true);
    tensor x = lmlab::narrow(xzl, 2, 3, 4);
    if (!as_view) x = lmlab::contiguous(x);
    tensor y = lmlab::causal_conv1d(x, wl, bl);
    lmlab::backward(y, uniform(y.shape(), -1, 1, 57));
    return std::vector<std::vector<double>>{y.to_vector(), xzl.grad().to_vector(), wl.grad().to_vector(), bl.grad().to_vector()};
  };
  const auto a = run(true), c = run(false);
  for (std::size_t k = 0; k < a.size(); ++k) EXPECT_EQ(a[k], c[k]) << "tensor " << k;
}

TEST(selective_scan, multithreaded_path_forward_and_gradients) {
  // 2*64*40*16 state updates: above the single-thread cutoff, so the OpenMP paths run.
  auto in = make_scan(2, 64, 40, 16, dtype::f64, 61);
  expect_close(lmlab::selective_scan(in.u, in.delta, in.A, in.Bm, in.Cm, in.D),
               lmlab::selective_scan_reference(in.u, in.delta, in.A, in.Bm, in.Cm, in.D), 1e-12, 1e-12, "big scan");
  expect_spot_gradcheck([](const std::vector<tensor>& x) { return lmlab::selective_scan(x[0], x[1], x[2], x[3], x[4], x[5]); },
                        {in.u, in.delta, in.A, in.Bm, in.Cm, in.D}, 6, "big scan");
}

// The gated scan (Mamba's mixer path) against the composed ops it replaces (softplus,
// selective_scan, silu, mul), forward and every gradient, at a lab shape (d_state 16, two
// 16-lane channel blocks and a ragged one) and past one checkpoint chunk (T 70). The formulas
// are shared (ops/internal.hpp), but GCC contracts a*b + c into FMAs differently where they are
// inlined, so results may differ in the last bits: checked at 2e-6 relative to each tensor's
// largest magnitude (f32 rounding is 6e-8).
TEST(selective_scan, gated_matches_composed_ops) {
  for (const std::int64_t T : {32, 70}) {
    scan_inputs in = make_scan(3, T, 40, 16, dtype::f32, 41);
    tensor draw = uniform({3, T, 40}, -3, 3, 51, dtype::f32), z = uniform({3, T, 40}, -4, 4, 52, dtype::f32);
    tensor A_log = uniform({40, 16}, -1, 2, 53, dtype::f32);
    auto run = [&](bool gated) {
      std::vector<tensor> xs = {in.u.clone_raw(), draw.clone_raw(), A_log.clone_raw(), in.Bm.clone_raw(), in.Cm.clone_raw(),
                                in.D.clone_raw(), z.clone_raw()};
      for (auto& x : xs) x.set_requires_grad(true);
      const tensor A = lmlab::neg(lmlab::exp(xs[2]));
      tensor y = gated ? lmlab::selective_scan_gated(xs[0], xs[1], A, xs[3], xs[4], xs[5], xs[6])
                       : lmlab::mul(lmlab::selective_scan(xs[0], lmlab::softplus(xs[1]), A, xs[3], xs[4], xs[5]), lmlab::silu(xs[6]));
      tensor g = uniform(y.shape(), -1, 1, 61, dtype::f32);
      lmlab::backward(y, g);
      std::vector<std::vector<double>> out = {y.to_vector()};
      for (auto& x : xs) out.push_back(x.grad().to_vector());
      return out;
    };
    const auto a = run(true), b = run(false);
    for (std::size_t k = 0; k < a.size(); ++k) {
      ASSERT_EQ(a[k].size(), b[k].size());
      double scale = 0;
      for (const double v : b[k]) scale = std::max(scale, std::abs(v));
      for (std::size_t i = 0; i < a[k].size(); ++i)
        ASSERT_LE(std::abs(a[k][i] - b[k][i]), 2e-6 * scale) << "T " << T << " tensor " << k << " element " << i << ": " << a[k][i]
                                                              << " vs " << b[k][i];
    }
  }
}
