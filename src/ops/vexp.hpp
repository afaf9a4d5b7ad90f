// Vectorisable exp, expm1, log1p and sqrt for the recurrent kernels' inner loops (selective
// scan, WKV, RG-LRU) and softplus (ops/elementwise.cpp). The float versions are branch-free straight-line code, so a `#pragma omp simd` loop
// that calls them compiles to SIMD code (AVX2/AVX-512 with -march=native) instead of one libm
// call per element. The double versions are the libm functions: the f64 paths are the gradient
// checks' reference precision and are not performance-critical.
// Not for: general elementwise ops on tensors (ops/elementwise.hpp), or arguments where results
// below FLT_MIN matter (they are flushed to 0, see below).
//
// Float algorithm: range reduction x = n ln2 + r, |r| <= ln2/2, with n = round(x / ln2) and ln2
// split in two (Cody-Waite) so n*ln2_hi is exact; e^r by its degree-7 Taylor polynomial
// (truncation error < 6e-9 relative on |r| <= 0.347, below float rounding); 2^n applied as
// two power-of-two factors 2^(n/2) 2^(n - n/2) so that neither leaves the normal range.
// Measured max error against exp in double, over every float x whose e^x is a normal float:
// 0.94 ulp with FMA (-march=native), 1.2 ulp without (every 13th float). Special values:
// x < ln(FLT_MIN) = -87.34 (including -inf) gives exactly +0 (no denormals are produced),
// x > ln(FLT_MAX) = 88.72 gives +inf, NaN gives NaN. tests/ops/test_vexp.cpp checks these.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace lmlab {

namespace vexp_detail {

// a*b + c in one rounding where the CPU has FMA (the project compiles as ISO C++, so GCC does
// not contract a*b+c on its own); two roundings otherwise.
inline float fmadd(float a, float b, float c) {
#ifdef __FMA__
  return __builtin_fmaf(a, b, c);
#else
  return a * b + c;
#endif
}

inline float pow2i(std::int32_t e) { return std::bit_cast<float>(static_cast<std::int32_t>((e + 127) << 23)); }

// 1/k! in float, k = 0..10.
inline constexpr float inv_factorial[] = {1.0f,          1.0f,           0.5f,           1.0f / 6.0f,
                                          1.0f / 24.0f,  1.0f / 120.0f,  1.0f / 720.0f,  1.0f / 5040.0f,
                                          1.0f / 40320.0f, 1.0f / 362880.0f, 1.0f / 3628800.0f};

// sum_{k=Lo..Hi} x^(k-Lo) / k! in Horner form, innermost 1/Hi! (straight-line code: the
// recursion is unrolled at compile time). ref: Taylor series of e^x.
template <int Hi, int Lo>
inline float taylor_horner(float x) {
  if constexpr (Hi == Lo) return inv_factorial[Hi];
  else return fmadd(taylor_horner<Hi, Lo + 1>(x), x, inv_factorial[Lo]);
}

}  // namespace vexp_detail

inline float exp_fast(float x) {
  using namespace vexp_detail;
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693145751953125f;         // ln 2 to 16 bits: n * kLn2Hi is exact
  constexpr float kLn2Lo = 1.42860682030941723212e-6f;  // ln 2 - kLn2Hi
  constexpr float kRound = 12582912.0f;                  // 1.5 * 2^23: adding it rounds to an integer
  constexpr float kFlushBelow = -87.3365447505531f;      // ln(FLT_MIN)
  // Clamp so that n stays in [-150, 128] (both scale factors normal); NaN is mapped to the low
  // end here (the comparisons are false) and restored at the end.
  float xc = x >= -104.0f ? x : -104.0f;
  xc = xc <= 89.0f ? xc : 89.0f;
  const float nf = fmadd(xc, kLog2e, kRound) - kRound;  // round(x / ln 2)
  float r = fmadd(-nf, kLn2Hi, xc);
  r = fmadd(-nf, kLn2Lo, r);
  const float p = taylor_horner<7, 0>(r);  // e^r, ref: Taylor series, Horner form
  const auto n = static_cast<std::int32_t>(nf);
  const std::int32_t n1 = n >> 1;
  float y = p * pow2i(n1) * pow2i(n - n1);  // overflows to +inf above ln(FLT_MAX), as exp does
  y = x >= kFlushBelow ? y : 0.0f;
  return x == x ? y : x;
}

inline double exp_fast(double x) { return std::exp(x); }

// exp_fast for x <= 0 (or NaN): the selective scan's decays exp(delta A), delta >= 0, A <= 0,
// where exp is a third of the forward (issue 21). The same reduction and polynomial, so the
// result is bit-identical to exp_fast(x), with less work around them: no upper clamp, and 2^n
// applied by adding n to p's exponent bits (exact while the result is normal; the integer n
// is read from the rounding constant's low mantissa bits, no conversion). The one difference:
// where e^x is within an ulp of FLT_MIN and p rounds below 1, exp_fast rounds to a denormal
// and this returns another value below FLT_MIN (tests/ops/test_vexp.cpp). Positive x: wrong
// results; callers check the sign first.
inline float exp_fast_nonpos(float x) {
  using namespace vexp_detail;
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693145751953125f;
  constexpr float kLn2Lo = 1.42860682030941723212e-6f;
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: t's low mantissa bits are 2^22 + n
  constexpr float kFlushBelow = -87.3365447505531f;
  const float xc = x >= -104.0f ? x : -104.0f;
  const float t = fmadd(xc, kLog2e, kRound);
  const float nf = t - kRound;
  float r = fmadd(-nf, kLn2Hi, xc);
  r = fmadd(-nf, kLn2Lo, r);
  float p = 1.0f / 5040.0f;  // ref: Taylor series, Horner form (as exp_fast)
  p = fmadd(p, r, 1.0f / 720.0f);
  p = fmadd(p, r, 1.0f / 120.0f);
  p = fmadd(p, r, 1.0f / 24.0f);
  p = fmadd(p, r, 1.0f / 6.0f);
  p = fmadd(p, r, 0.5f);
  p = fmadd(p, r, 1.0f);
  p = fmadd(p, r, 1.0f);
  // (2^22 + n) << 23 wraps to n << 23 modulo 2^32: n added to p's exponent field.
  const std::uint32_t scale = std::bit_cast<std::uint32_t>(t) << 23;
  float y = std::bit_cast<float>(std::bit_cast<std::uint32_t>(p) + scale);
  y = x >= kFlushBelow ? y : 0.0f;
  return x == x ? y : x;
}

inline double exp_fast_nonpos(double x) { return std::exp(x); }

// e^x - 1 without the cancellation of exp_fast(x) - 1 near 0 (the RG-LRU's 1 - a^2 as a -> 1):
// on |x| < 0.7 its degree-10 Taylor polynomial (truncation < 1e-9 relative), else
// exp_fast(x) - 1. Both branches are computed and one selected, so a simd loop stays
// vectorised. Max error against expm1 in double over every float in [-88, 88.7] with a normal
// result: 1.64 ulp with FMA (2.17 without, every 13th float), largest just above |x| = 0.7.
// exp_expm1_fast sets e = exp_fast(x) and em1 = expm1_fast(x) from the one exponential.
inline void exp_expm1_fast(float x, float& e, float& em1) {
  // ref: Taylor series of e^x - 1 = x (1 + x/2 + x^2/6 + ...), Horner form
  const float small = vexp_detail::taylor_horner<10, 1>(x) * x;
  e = exp_fast(x);
  em1 = std::abs(x) < 0.7f ? small : e - 1.0f;
}

inline float expm1_fast(float x) {
  float e, em1;
  exp_expm1_fast(x, e, em1);
  return em1;
}

inline void exp_expm1_fast(double x, double& e, double& em1) { e = std::exp(x), em1 = std::expm1(x); }
inline double expm1_fast(double x) { return std::expm1(x); }

// log(1 + y) for y in [0, 1] (softplus's log1p(exp(-|x|))): u = 1 + y rounded, then
// log1p(y) = log(u) * y / (u - 1), which cancels u's rounding error (Goldberg's trick; exactly y
// when u rounds to 1); log(u) = e ln 2 + log(m) with u = m 2^e, m in [sqrt(1/2), sqrt(2)), and
// log(m) = f - f^2/2 + f^3 P(f), f = m - 1. Branch-free (both halvings computed, one selected).
// Max error against log1p in double over [0, 1]: see tests/ops/test_vexp.cpp.
inline float log1p_fast(float y) {
  using vexp_detail::fmadd;
  const float u = 1.0f + y;
  const bool half = u >= 1.41421356237f;
  const float m = half ? 0.5f * u : u;  // exact
  const float e = half ? 1.0f : 0.0f;
  const float f = m - 1.0f, z = f * f;
  // ref: Cephes logf, the minimax polynomial P for log(1 + f) - f + f^2/2 = f^3 P(f).
  float p = 7.0376836292e-2f;
  p = fmadd(p, f, -1.1514610310e-1f);
  p = fmadd(p, f, 1.1676998740e-1f);
  p = fmadd(p, f, -1.2420140846e-1f);
  p = fmadd(p, f, 1.4249322787e-1f);
  p = fmadd(p, f, -1.6668057665e-1f);
  p = fmadd(p, f, 2.0000714765e-1f);
  p = fmadd(p, f, -2.4999993993e-1f);
  p = fmadd(p, f, 3.3333331174e-1f);
  float r = p * f * z;
  r = fmadd(e, -2.12194440e-4f, r);  // ln 2 = 0.693359375 - 2.12194440e-4, the first part exact
  r = fmadd(-0.5f, z, r);
  const float lg = fmadd(e, 0.693359375f, f + r);
  const float d = u - 1.0f;
  return d == 0.0f ? y : lg * (y / d);
}

inline double log1p_fast(double y) { return std::log1p(y); }

// 1/sqrt(z) and sqrt(z) for z = 0 or a normal float z >= 0 (std::sqrt keeps a loop scalar
// unless errno is off): an initial guess from halving the exponent bits (error < 3.5%), three
// Newton steps y <- y (3 - z y^2) / 2 (each squares the relative error), and for sqrt one Heron
// correction s + (z - s^2) / (2 s). z = 0 gives a large finite rsqrt and sqrt exactly 0.
// Max error over every normal float: sqrt_fast 0.75 ulp, rsqrt_fast 2.9 ulp.
inline float rsqrt_fast(float z) {
  float y = std::bit_cast<float>(static_cast<std::int32_t>(0x5f3759df - (std::bit_cast<std::int32_t>(z) >> 1)));
  const float hz = 0.5f * z;
  for (int i = 0; i < 3; ++i) y = y * (1.5f - hz * y * y);
  return y;
}

inline float sqrt_fast(float z) {
  using vexp_detail::fmadd;
  const float y = rsqrt_fast(z), s = z * y;
  return fmadd(0.5f * y, fmadd(-s, s, z), s);
}

inline double rsqrt_fast(double z) { return 1 / std::sqrt(z); }
inline double sqrt_fast(double z) { return std::sqrt(z); }

// y[i] = exp_fast(x[i]) for i < n; x and y may be the same array.
template <class T>
inline void vexp(const T* x, T* y, std::int64_t n) {
#pragma omp simd
  for (std::int64_t i = 0; i < n; ++i) y[i] = exp_fast(x[i]);
}

}  // namespace lmlab
