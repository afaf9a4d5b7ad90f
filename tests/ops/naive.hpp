// Naive f64 references for the op table (tests/ops/test_op_table.cpp): plain loops over
// row-major std::vector<double>, written independently of src/ops so that a shared bug in a
// kernel helper cannot hide. Not for: anything but tests.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "core/tensor.hpp"

namespace lmlab::naive {

struct dense {
  shape_t shape;
  std::vector<double> v;
  std::int64_t numel() const { return numel_of(shape); }
};

inline dense of(const tensor& t) { return {t.shape(), t.to_vector()}; }

// Index helpers for row-major shapes.
inline std::vector<std::int64_t> unravel(std::int64_t i, const shape_t& s) {
  std::vector<std::int64_t> idx(s.size());
  for (std::size_t d = s.size(); d-- > 0;) {
    idx[d] = i % s[d];
    i /= s[d];
  }
  return idx;
}
inline std::int64_t ravel_bcast(const std::vector<std::int64_t>& idx, const shape_t& s) {
  // idx is for a broadcast shape with >= s.size() dims; s aligned from the right, size-1 dims read 0
  std::int64_t off = 0;
  const std::size_t lead = idx.size() - s.size();
  for (std::size_t d = 0; d < s.size(); ++d) off = off * s[d] + (s[d] == 1 ? 0 : idx[lead + d]);
  return off;
}

inline shape_t bshape(const shape_t& a, const shape_t& b) {
  const std::size_t n = std::max(a.size(), b.size());
  shape_t o(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const std::int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    o[i] = std::max(da, db);
  }
  return o;
}

inline dense binary(const dense& a, const dense& b, const std::function<double(double, double)>& f) {
  dense o{bshape(a.shape, b.shape), {}};
  o.v.resize(static_cast<std::size_t>(o.numel()));
  for (std::int64_t i = 0; i < o.numel(); ++i) {
    auto idx = unravel(i, o.shape);
    o.v[static_cast<std::size_t>(i)] =
        f(a.v[static_cast<std::size_t>(ravel_bcast(idx, a.shape))], b.v[static_cast<std::size_t>(ravel_bcast(idx, b.shape))]);
  }
  return o;
}

inline dense unary(const dense& a, const std::function<double(double)>& f) {
  dense o = a;
  for (auto& x : o.v) x = f(x);
  return o;
}

inline dense transpose(const dense& a, std::size_t d0, std::size_t d1) {
  dense o{a.shape, std::vector<double>(a.v.size())};
  std::swap(o.shape[d0], o.shape[d1]);
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    auto idx = unravel(i, a.shape);
    std::swap(idx[d0], idx[d1]);
    std::int64_t off = 0;
    for (std::size_t d = 0; d < idx.size(); ++d) off = off * o.shape[d] + idx[d];
    o.v[static_cast<std::size_t>(off)] = a.v[static_cast<std::size_t>(i)];
  }
  return o;
}

// sum over `dims` (kept as size 1)
inline dense sum_keep(const dense& a, const std::vector<std::size_t>& dims) {
  shape_t os = a.shape;
  for (auto d : dims) os[d] = 1;
  dense o{os, std::vector<double>(static_cast<std::size_t>(numel_of(os)), 0.0)};
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    auto idx = unravel(i, a.shape);
    o.v[static_cast<std::size_t>(ravel_bcast(idx, os))] += a.v[static_cast<std::size_t>(i)];
  }
  return o;
}

// a (..., M, K) @ b (K, N) or batched (B, M, K) @ (B, K, N)
inline dense matmul(const dense& a, const dense& b) {
  const std::int64_t M = a.shape[a.shape.size() - 2], K = a.shape.back(), N = b.shape.back();
  const bool batched = b.shape.size() > 2;
  const std::int64_t nb = a.numel() / (M * K);
  dense o{a.shape, {}};
  o.shape.back() = N;
  o.v.assign(static_cast<std::size_t>(nb * M * N), 0.0);
  for (std::int64_t x = 0; x < nb; ++x)
    for (std::int64_t i = 0; i < M; ++i)
      for (std::int64_t j = 0; j < N; ++j) {
        double s = 0;
        for (std::int64_t k = 0; k < K; ++k)
          s += a.v[static_cast<std::size_t>((x * M + i) * K + k)] * b.v[static_cast<std::size_t>((batched ? x * K * N : 0) + k * N + j)];
        o.v[static_cast<std::size_t>((x * M + i) * N + j)] = s;
      }
  return o;
}

// Row-wise (last dim) functions.
inline dense rows(const dense& a, const std::function<void(const double*, double*, std::int64_t)>& f) {
  dense o = a;
  const std::int64_t C = a.shape.back();
  for (std::int64_t r = 0; r < a.numel() / C; ++r) f(a.v.data() + r * C, o.v.data() + r * C, C);
  return o;
}

inline dense softmax_last(const dense& a, bool log_out) {
  return rows(a, [&](const double* x, double* y, std::int64_t C) {
    double m = -INFINITY, s = 0;
    for (std::int64_t c = 0; c < C; ++c) m = std::max(m, x[c]);
    for (std::int64_t c = 0; c < C; ++c) s += std::exp(x[c] - m);
    for (std::int64_t c = 0; c < C; ++c) y[c] = log_out ? x[c] - m - std::log(s) : std::exp(x[c] - m) / s;
  });
}

// q (B,H,T,D), k v (B,Hkv,S,D): loops over every (b, h, t), softmax over visible keys.
inline dense attention(const dense& q, const dense& k, const dense& v, bool causal, std::int64_t window, double scale,
                       const std::vector<double>& slopes) {
  const std::int64_t B = q.shape[0], H = q.shape[1], T = q.shape[2], D = q.shape[3], Hkv = k.shape[1], S = k.shape[2];
  if (scale == 0) scale = 1.0 / std::sqrt(static_cast<double>(D));
  dense o{q.shape, std::vector<double>(q.v.size(), 0.0)};
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t h = 0; h < H; ++h) {
      const std::int64_t hk = h / (H / Hkv);
      for (std::int64_t t = 0; t < T; ++t) {
        const std::int64_t pos = t + S - T;
        std::vector<double> sc(static_cast<std::size_t>(S), -INFINITY);
        double m = -INFINITY;
        for (std::int64_t s = 0; s < S; ++s) {
          if (causal && s > pos) continue;
          if (window > 0 && s <= pos - window) continue;
          double x = 0;
          for (std::int64_t d = 0; d < D; ++d)
            x += q.v[static_cast<std::size_t>(((b * H + h) * T + t) * D + d)] * k.v[static_cast<std::size_t>(((b * Hkv + hk) * S + s) * D + d)];
          x *= scale;
          if (!slopes.empty()) x -= slopes[static_cast<std::size_t>(h)] * static_cast<double>(pos - s);
          sc[static_cast<std::size_t>(s)] = x;
          m = std::max(m, x);
        }
        if (m == -INFINITY) continue;  // no visible key: zero output
        double z = 0;
        for (auto& x : sc) z += (x = std::exp(x - m));
        for (std::int64_t s = 0; s < S; ++s)
          for (std::int64_t d = 0; d < D; ++d)
            o.v[static_cast<std::size_t>(((b * H + h) * T + t) * D + d)] +=
                sc[static_cast<std::size_t>(s)] / z * v.v[static_cast<std::size_t>(((b * Hkv + hk) * S + s) * D + d)];
      }
    }
  return o;
}

}  // namespace lmlab::naive
