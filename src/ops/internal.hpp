// Helpers shared by the op implementations in src/ops/*.cpp: dim normalisation, broadcast
// shapes, the OpenMP grain rule, vectorisable exp/erf for f32, and the raw (no-autograd)
// broadcast/reduce kernels that several backwards use.
// Not for: use outside src/ops (include ops/ops.hpp instead).
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/tensor.hpp"
#include "ops/vexp.hpp"

namespace lmlab::detail {

// Work below this many elements runs on one thread (OpenMP fork/join costs ~1-5 us).
inline constexpr std::int64_t k_par_grain = 32768;

inline std::int64_t norm_dim(std::int64_t d, std::int64_t n, const char* op) {
  const std::int64_t orig = d;
  if (d < 0) d += n;
  LMLAB_CHECK(d >= 0 && d < n, "{}: dim {} out of range for a tensor of {} dims", op, orig, n);
  return d;
}

// NumPy broadcasting of two shapes (aligned from the right).
shape_t broadcast_shapes(const shape_t& a, const shape_t& b, const char* op);

// x broadcast (copied) to `shape` (x's shape must broadcast to it). Same dtype, contiguous.
tensor broadcast_to_raw(const tensor& x, const shape_t& shape);

// g summed down to `shape` (g's shape must be a broadcast of `shape`). Returns g itself
// (possibly non-contiguous) when the shapes are equal.
tensor sum_to_raw(const tensor& g, const shape_t& shape);

// t.detach(), or an undefined tensor when t is undefined (optional parameters).
inline tensor detach_opt(const tensor& t) { return t.defined() ? t.detach() : tensor(); }

// Same-dtype check for binary ops, with the op name first.
inline void check_same_type(const tensor& a, const tensor& b, const char* op) {
  LMLAB_CHECK(a.type() == b.type(), "{}: dtypes differ: {} vs {}", op, dtype_name(a.type()), dtype_name(b.type()));
}

// ---- vectorisable math -----------------------------------------------------------------
// std::exp/std::erf do not vectorise without -ffast-math; these plain-arithmetic versions do
// (inside `#pragma omp simd` loops). f64 uses the libm functions (gradient checks want them
// exact); f32 uses a Cephes-style range reduction + polynomial (max rel. error ~2e-7).

inline float exp_f32(float x) {
  // exp(x) = 2^n * exp(r), n = round(x / ln 2), r = x - n ln 2 in [-ln2/2, ln2/2].
  x = x < -87.3f ? -87.3f : x;
  x = x > 88.3f ? 88.3f : x;
  // Round to nearest by the 1.5*2^23 trick (vectorises, unlike nearbyint under strict math).
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  // ref: Cephes expf minimax polynomial for exp(r) - 1 - r on [-ln2/2, ln2/2].
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = p * r * r + r + 1.0f;
  const std::int32_t bits = (static_cast<std::int32_t>(n) + 127) << 23;
  return e * std::bit_cast<float>(bits);
}

template <class T>
inline T vexp(T x) {
  if constexpr (std::is_same_v<T, float>) {
    return x == -INFINITY ? 0.0f : exp_f32(x);
  } else {
    return std::exp(x);
  }
}

// ref: Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7): erf(x) = 1 - p(t) t exp(-x^2) for x >= 0,
// t = 1 / (1 + 0.3275911 x); this is p(t) t. Odd extension for x < 0.
inline float erfc_poly_f32(float ax) {
  const float t = 1.0f / (1.0f + 0.3275911f * ax);
  float p = 1.061405429f;
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  return p * t;
}

template <class T>
inline T verf(T x) {
  if constexpr (std::is_same_v<T, float>) {
    const float ax = std::fabs(x);
    const float y = 1.0f - erfc_poly_f32(ax) * exp_f32(-ax * ax);
    return std::copysign(y, x);
  } else {
    return std::erf(x);
  }
}

// The normal distribution's Phi(x) and phi(x) (GELU's backward needs both). In f32 the erf of
// x / sqrt 2 already computes exp(-x^2 / 2), which is phi's exponential: one exp, not two
// (phi's argument is rounded as (x / sqrt 2)^2 instead of x^2 / 2: ~1 ulp).
template <class T>
inline void normal_cdf_pdf(T x, T& cdf, T& pdf) {
  if constexpr (std::is_same_v<T, float>) {
    const float az = std::fabs(x * 0.70710678118654752440f);
    const float e = exp_f32(-az * az);
    cdf = 0.5f * (1.0f + std::copysign(1.0f - erfc_poly_f32(az) * e, x));
    pdf = 0.39894228040143267794f * e;
  } else {
    cdf = T(0.5) * (T(1) + std::erf(x * T(0.70710678118654752440)));
    pdf = T(0.39894228040143267794) * std::exp(T(-0.5) * x * x);
  }
}

template <class T>
inline T vtanh(T x) {
  if constexpr (std::is_same_v<T, float>) {
    // tanh(x) = 1 - 2 / (exp(2x) + 1); saturates cleanly for |x| large.
    const float e = exp_f32(2.0f * x);
    return 1.0f - 2.0f / (e + 1.0f);
  } else {
    return std::tanh(x);
  }
}

// The scalar formulas of SiLU and softplus, forward and backward, shared by the elementwise ops
// (ops/elementwise.cpp) and the kernels that fuse them (ops/scan.cpp's gated scan), so a fused
// op computes what the composed ops compute (up to GCC's per-site FMA contraction).
// silu: y = x s, s = sigmoid(x); dx = g s (1 + x (1 - s))
template <class T>
inline T silu_fwd(T v) {
  return v / (T(1) + vexp(-v));
}
template <class T>
inline T silu_bwd(T v, T g) {
  const T s = T(1) / (T(1) + vexp(-v));
  return g * s * (T(1) + v * (T(1) - s));
}
// softplus: y = log(1 + e^x) (x for x > 20, as PyTorch); dx = g sigmoid(x).
// f32: max(x, 0) + log1p(e^-|x|), the same function, in the vectorisable exp_fast and
// log1p_fast (ops/vexp.hpp): libm's scalar log1pf and expf were 10% of a Mamba training step
// at d_model 64 (issue 21). Above 20, e^-|x| < 2.1e-9 adds nothing to x in float.
template <class T>
inline T softplus_fwd(T v) {
  if constexpr (std::is_same_v<T, float>) {
    return (v > 0.0f ? v : 0.0f) + log1p_fast(exp_fast(-std::abs(v)));
  } else {
    return v > T(20) ? v : std::log1p(std::exp(v));
  }
}
template <class T>
inline T softplus_bwd(T v, T g) {
  return v > T(20) ? g : g / (T(1) + vexp(-v));
}

}  // namespace lmlab::detail
