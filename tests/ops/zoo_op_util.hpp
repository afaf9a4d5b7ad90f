// Helpers shared by the zoo kernel tests in tests/ops (test_scan, test_wkv, ...): seeded random tensors and a compare-with-report check.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "autograd/autograd.hpp"
#include "autograd/gradcheck.hpp"
#include "core/rng.hpp"
#include "core/tensor.hpp"

namespace zoo_test {

using lmlab::dtype;
using lmlab::shape_t;
using lmlab::tensor;

// Uniform in [lo, hi), f64, from a fixed seed.
inline tensor uniform(const shape_t& shape, double lo, double hi, std::uint64_t seed, dtype t = dtype::f64) {
  lmlab::rng g(seed);
  std::vector<double> v(static_cast<std::size_t>(lmlab::numel_of(shape)));
  for (auto& x : v) x = lo + (hi - lo) * g.uniform();
  return tensor::from<double>(shape, std::span<const double>(v)).to_raw(t);
}

// |a - b| <= atol + rtol |b| everywhere; prints the worst element on failure.
inline void expect_close(const tensor& a, const tensor& b, double atol, double rtol, const char* what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  auto r = lmlab::compare(a, b, atol, rtol);
  EXPECT_TRUE(r.ok) << what << ": worst element " << r.worst_index << ": " << r.worst_a << " vs " << r.worst_b
                    << " (max |diff| " << r.max_abs_diff << ")";
}

inline void expect_gradcheck(const std::function<tensor(const std::vector<tensor>&)>& f, std::vector<tensor> in,
                             const char* what, lmlab::gradcheck_options opt = {}) {
  auto r = lmlab::gradcheck(f, std::move(in), opt);
  EXPECT_TRUE(r.ok) << what << "\n" << r.report;
}

// Gradcheck on a problem too large for the full check (one that takes the multi-threaded
// paths): analytic gradients of L = sum(r * f(x)) vs central differences at `samples` random
// elements of each input.
inline void expect_spot_gradcheck(const std::function<tensor(const std::vector<tensor>&)>& f, std::vector<tensor> in,
                                  int samples, const char* what, double tol = 1e-6) {
  for (auto& x : in) {
    x = x.clone_raw();
    x.set_requires_grad(true);
  }
  tensor y = f(in);
  lmlab::rng g(77);
  std::vector<double> r(static_cast<std::size_t>(y.numel()));
  for (auto& v : r) v = g.uniform() * 2 - 1;
  lmlab::backward(y, tensor::from<double>(y.shape(), std::span<const double>(r)));
  auto loss = [&] {
    const auto v = f(in).to_vector();
    double s = 0;
    for (std::size_t i = 0; i < v.size(); ++i) s += r[i] * v[i];
    return s;
  };
  lmlab::no_grad ng;
  for (std::size_t i = 0; i < in.size(); ++i) {
    const auto an = in[i].grad().to_vector();
    double* p = in[i].data<double>();
    for (int k = 0; k < samples; ++k) {
      const auto e = static_cast<std::int64_t>(g.below(static_cast<std::uint64_t>(in[i].numel())));
      const double x0 = p[e], eps = 1e-6;
      p[e] = x0 + eps;
      const double lp = loss();
      p[e] = x0 - eps;
      const double lm = loss();
      p[e] = x0;
      const double num = (lp - lm) / (2 * eps);
      EXPECT_NEAR(an[static_cast<std::size_t>(e)], num, tol * (1 + std::abs(num))) << what << " input " << i << " element " << e;
    }
  }
}

}  // namespace zoo_test
