// exp_fast / vexp (ops/vexp.hpp): error against exp in double over the float range where exp is
// a normal float, the special values (0, large negative -> exactly 0 with no denormals,
// overflow -> inf, NaN), and the array form against the scalar one; expm1_fast and sqrt_fast
// (the RG-LRU's) against double.
#include "ops/vexp.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace {

// |y - ref| in units of the float spacing at ref (the double result is exact enough).
double ulps(double ref, float y) {
  int e = 0;
  std::frexp(std::abs(ref), &e);
  return std::abs(static_cast<double>(y) - ref) / std::ldexp(1.0, e - 24);
}
double ulp_error(float x, float y) { return ulps(std::exp(static_cast<double>(x)), y); }

}  // namespace

TEST(vexp, within_one_ulp_over_the_normal_range) {
  // Evenly spaced over [ln FLT_MIN, ln FLT_MAX] (the whole range with a normal result; an
  // exhaustive sweep of every float there measured 0.94 ulp) plus dense around 0, where the
  // selective scan's exp(delta A) arguments live.
  std::vector<float> x;
  const double lo = -87.33, hi = 88.72;
  for (int i = 0; i <= 1 << 20; ++i) x.push_back(static_cast<float>(lo + (hi - lo) * i / (1 << 20)));
  for (int i = -(1 << 16); i <= 1 << 16; ++i) x.push_back(static_cast<float>(i) / (1 << 14));
  std::vector<float> y(x.size());
  lmlab::vexp(x.data(), y.data(), static_cast<std::int64_t>(x.size()));
  double worst = 0, worst_rel = 0;
  float worst_x = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double u = ulp_error(x[i], y[i]);
    const double ref = std::exp(static_cast<double>(x[i]));
    worst_rel = std::max(worst_rel, std::abs(y[i] - ref) / ref);
    if (u > worst) worst = u, worst_x = x[i];
  }
  // 0.94 ulp with FMA (the -march=native build), 1.2 without.
  EXPECT_LE(worst, 2.0) << "at x = " << worst_x;
  EXPECT_LE(worst_rel, 2.4e-7) << "at x = " << worst_x;
}

TEST(vexp, special_values) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(lmlab::exp_fast(0.0f), 1.0f);
  EXPECT_EQ(lmlab::exp_fast(-0.0f), 1.0f);
  EXPECT_EQ(lmlab::exp_fast(1.0f), std::exp(1.0f));
  // Moderate positive arguments: within 1 ulp.
  for (float x : {0.5f, 1.0f, 2.5f, 10.0f, 20.0f, 50.0f, 88.0f}) EXPECT_LE(ulp_error(x, lmlab::exp_fast(x)), 1.0) << x;
  // Below ln(FLT_MIN) the result is exactly +0: never a denormal, never NaN.
  for (float x : {-87.34f, -88.0f, -100.0f, -103.9f, -104.0f, -200.0f, -1e30f, -std::numeric_limits<float>::max(), -inf}) {
    const float y = lmlab::exp_fast(x);
    EXPECT_EQ(y, 0.0f) << x;
    EXPECT_FALSE(std::signbit(y)) << x;
  }
  for (float x = -110.0f; x < -80.0f; x += 1.0f / 1024) {
    const float y = lmlab::exp_fast(x);
    ASSERT_NE(std::fpclassify(y), FP_SUBNORMAL) << x;
    ASSERT_FALSE(std::isnan(y)) << x;
  }
  EXPECT_EQ(lmlab::exp_fast(88.73f), inf);
  EXPECT_EQ(lmlab::exp_fast(1000.0f), inf);
  EXPECT_EQ(lmlab::exp_fast(inf), inf);
  EXPECT_TRUE(std::isnan(lmlab::exp_fast(std::numeric_limits<float>::quiet_NaN())));
  // The last finite result just below ln(FLT_MAX).
  EXPECT_TRUE(std::isfinite(lmlab::exp_fast(88.72283f)));
}

TEST(vexp, array_form_matches_scalar_in_place_and_double) {
  std::vector<float> x;
  for (int i = 0; i < 1000; ++i) x.push_back(-120.0f + 0.21f * static_cast<float>(i));  // ragged length, all regimes
  x.push_back(std::numeric_limits<float>::quiet_NaN());
  std::vector<float> y(x.size()), z = x;
  lmlab::vexp(x.data(), y.data(), static_cast<std::int64_t>(x.size()));
  lmlab::vexp(z.data(), z.data(), static_cast<std::int64_t>(z.size()));
  for (std::size_t i = 0; i + 1 < x.size(); ++i) {
    ASSERT_EQ(y[i], lmlab::exp_fast(x[i])) << x[i];
    ASSERT_EQ(z[i], y[i]) << x[i];
  }
  EXPECT_TRUE(std::isnan(y.back()) && std::isnan(z.back()));
  // The double overload is std::exp (the f64 paths are the gradient checks' reference).
  std::vector<double> xd = {-800.0, -3.5, 0.0, 1e-3, 7.25, 700.0}, yd(xd.size());
  lmlab::vexp(xd.data(), yd.data(), static_cast<std::int64_t>(xd.size()));
  for (std::size_t i = 0; i < xd.size(); ++i) EXPECT_EQ(yd[i], std::exp(xd[i]));
}

TEST(vexp, expm1_and_sqrt) {
  // expm1_fast: Taylor branch on |x| < 0.7, exp_fast(x) - 1 outside (exhaustive sweep over
  // [-88, 88.7] measured 1.64 ulp); tiny arguments keep their relative accuracy.
  double worst = 0;
  for (int i = -(1 << 18); i <= 1 << 18; ++i) {
    const float x = static_cast<float>(i) * (8.0f / (1 << 18));
    if (x == 0) continue;
    worst = std::max(worst, ulps(std::expm1(static_cast<double>(x)), lmlab::expm1_fast(x)));
  }
  for (float x : {1e-30f, -1e-20f, 1e-7f, -3e-4f, 0.6999f, 0.7f, -0.7f, 20.0f, -20.0f})
    worst = std::max(worst, ulps(std::expm1(static_cast<double>(x)), lmlab::expm1_fast(x)));
  EXPECT_LE(worst, 2.5);  // 1.64 ulp with FMA, 2.17 in a build without (LMLAB_NATIVE=OFF)
  EXPECT_EQ(lmlab::expm1_fast(0.0f), 0.0f);
  EXPECT_EQ(lmlab::expm1_fast(-std::numeric_limits<float>::infinity()), -1.0f);
  EXPECT_EQ(lmlab::expm1_fast(-200.0f), -1.0f);
  // sqrt_fast on [0, 1] (the RG-LRU's 1 - a^2) and beyond; exhaustive over normal floats: 0.75 ulp.
  EXPECT_EQ(lmlab::sqrt_fast(0.0f), 0.0f);
  EXPECT_EQ(lmlab::sqrt_fast(1.0f), 1.0f);
  EXPECT_EQ(lmlab::sqrt_fast(4.0f), 2.0f);
  worst = 0;
  for (float z = 1e-30f; z < 1e30f; z *= 1.0001f) worst = std::max(worst, ulps(std::sqrt(static_cast<double>(z)), lmlab::sqrt_fast(z)));
  EXPECT_LE(worst, 1.0);
}

TEST(vexp, log1p_on_the_unit_interval) {
  // log1p_fast serves softplus as log1p(exp_fast(-|x|)), so y in [0, 1]; dense sweep plus
  // tiny arguments (u = 1 + y rounds to 1: the result is y itself).
  double worst = 0;
  for (int i = 0; i <= 1 << 20; ++i) {
    const float y = static_cast<float>(i) / (1 << 20);
    worst = std::max(worst, ulps(std::log1p(static_cast<double>(y)), lmlab::log1p_fast(y)));
  }
  for (float y : {1e-30f, 1e-10f, 3e-8f, 6e-8f, 1e-7f, 1e-4f, 0.41421356f, 0.4142137f, 1.0f})
    worst = std::max(worst, ulps(std::log1p(static_cast<double>(y)), lmlab::log1p_fast(y)));
  EXPECT_LE(worst, 2.0);
  EXPECT_EQ(lmlab::log1p_fast(0.0f), 0.0f);
}

TEST(vexp, nonpos_variant_bit_identical_to_exp_fast) {
  // exp_fast_nonpos (the selective scan's decays) must give exp_fast's bits for every x <= 0
  // (so the scan's results do not move), except where e^x is within an ulp of FLT_MIN: there
  // both results are below FLT_MIN (exp_fast rounds to a denormal).
  const float flt_min = std::numeric_limits<float>::min();
  std::int64_t checked = 0;
  // Every 61st float in [-1, 0] (all exponents, scattered mantissas) and a dense sweep of [-110, -1].
  for (std::uint32_t b = std::bit_cast<std::uint32_t>(-0.0f); b <= std::bit_cast<std::uint32_t>(-1.0f); b += 61) {
    const float x = std::bit_cast<float>(b);
    ASSERT_EQ(std::bit_cast<std::uint32_t>(lmlab::exp_fast_nonpos(x)), std::bit_cast<std::uint32_t>(lmlab::exp_fast(x))) << x;
    ++checked;
  }
  for (float x = -110.0f; x < -1.0f; x = std::nextafter(x + 1e-4f, 0.0f)) {
    const float a = lmlab::exp_fast_nonpos(x), e = lmlab::exp_fast(x);
    if (e < flt_min * 1.0000002f) {
      ASSERT_LT(a, flt_min * 1.0000002f) << x;
      continue;
    }
    ASSERT_EQ(std::bit_cast<std::uint32_t>(a), std::bit_cast<std::uint32_t>(e)) << x;
    ++checked;
  }
  EXPECT_GT(checked, 1'000'000);
  EXPECT_EQ(lmlab::exp_fast_nonpos(0.0f), 1.0f);
  EXPECT_EQ(lmlab::exp_fast_nonpos(-std::numeric_limits<float>::infinity()), 0.0f);
  EXPECT_FALSE(std::signbit(lmlab::exp_fast_nonpos(-200.0f)));
  EXPECT_TRUE(std::isnan(lmlab::exp_fast_nonpos(std::numeric_limits<float>::quiet_NaN())));
}
