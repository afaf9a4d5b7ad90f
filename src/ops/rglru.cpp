// RG-LRU forward/backward/step: see rglru.hpp. Work items are (batch, block of channels); the
// time loop is serial and the channel loop contiguous. The backward reads h_{t-1} from the
// saved output, so nothing beyond the output is stored. The channel loops are `omp simd` with
// exp_expm1_fast / sqrt_fast (ops/vexp.hpp) in place of the libm calls.
#include "ops/rglru.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "autograd/autograd.hpp"
#include "autograd/profile.hpp"
#include "ops/vexp.hpp"

namespace lmlab {

namespace {

constexpr std::int64_t kBlock = 64;
constexpr std::int64_t kParallelWork = 1 << 14;
// recurrentgemma's SqrtBoundDerivative: d sqrt(z)/dz = 0.5/sqrt(z) capped at 1000,
// i.e. z is floored at 0.25e-6 inside the derivative only.
constexpr double kSqrtGradFloor = 0.25e-6;

struct lru_dims {
  std::int64_t B, T, D;
};

lru_dims check_lru(const char* op, const tensor& x, const tensor& r, const tensor& i, const tensor& lambda) {
  LMLAB_CHECK(x.dim() == 3, "{}: x must be (B, T, D), got {}", op, shape_str(x.shape()));
  LMLAB_CHECK(r.shape() == x.shape() && i.shape() == x.shape(), "{}: gates r {} and i {} must match x {}", op,
              shape_str(r.shape()), shape_str(i.shape()), shape_str(x.shape()));
  LMLAB_CHECK(lambda.shape() == shape_t{x.size(2)}, "{}: lambda must be ({}), got {}", op, x.size(2), shape_str(lambda.shape()));
  LMLAB_CHECK(r.type() == x.type() && i.type() == x.type() && lambda.type() == x.type(), "{}: x, r, i, lambda must share one dtype", op);
  return {x.size(0), x.size(1), x.size(2)};
}

template <class T>
inline T softplus(T z) {
  return z > T(20) ? z : std::log1p(std::exp(z));
}

// a = e^x and z = 1 - a^2 (x = log a_t <= 0) from one exponential: z = -(e^x - 1)(e^x + 1), with
// e^x - 1 from expm1 (no cancellation as a -> 1), instead of exp(x) and expm1(2x).
template <class T>
inline void decay(T x, T& a, T& z) {
  T em1;
  exp_expm1_fast(x, a, em1);
  z = -em1 * (T(2) + em1);
}

template <class T>
void lru_forward(const lru_dims& s, const T* x, const T* r, const T* ig, const T* lam, double c, const T* h0, T* h) {
  const std::int64_t nblk = (s.D + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (s.B * s.T * s.D > kParallelWork)
  for (std::int64_t item = 0; item < s.B * nblk; ++item) {
    const std::int64_t b = item / nblk, d0 = (item % nblk) * kBlock, d1 = std::min(s.D, d0 + kBlock);
    T nsp[kBlock];  // -c * softplus(-lambda) = c * log(sigma(lambda))
    for (std::int64_t d = d0; d < d1; ++d) nsp[d - d0] = static_cast<T>(-c) * softplus(-lam[d]);
    for (std::int64_t t = 0; t < s.T; ++t) {
      const std::int64_t row = (b * s.T + t) * s.D;
      const T* hp = t > 0 ? h + row - s.D : h0 ? h0 + b * s.D : nullptr;
#pragma omp simd
      for (std::int64_t d = d0; d < d1; ++d) {
        const T log_a = nsp[d - d0] * r[row + d];                  // ref: Griffin eq. 6, a_t = a^(c r_t)
        T a, z;
        decay(log_a, a, z);
        const T m = sqrt_fast(z);
        h[row + d] = (hp ? a * hp[d] : T(0)) + m * (ig[row + d] * x[row + d]);  // ref: Griffin eq. 4
      }
    }
  }
}

// Rows this many time steps ahead of the backward's sweep are prefetched (one row of a block is
// kBlock channels; at the lab's widths a row's work covers a cache miss's latency at 2).
constexpr std::int64_t kAhead = 2;

// Prefetch n elements from offset e (>= D) of x, r and i, and from e - D of h (the h_{t-1} that
// row's step reads).
template <class T>
inline void prefetch_rows(std::int64_t e, std::int64_t n, std::int64_t D, const T* x, const T* r, const T* ig, const T* h) {
  constexpr std::int64_t line = 64 / sizeof(T);
  for (std::int64_t k = 0; k < n; k += line) {
    __builtin_prefetch(x + e + k);
    __builtin_prefetch(r + e + k);
    __builtin_prefetch(ig + e + k);
    __builtin_prefetch(h + e - D + k);
  }
}

template <class T>
void lru_backward(const lru_dims& s, const T* x, const T* r, const T* ig, const T* lam, double c, const T* h, const T* gh,
                  T* gx, T* gr, T* gi, T* glam) {
  const std::int64_t nblk = (s.D + kBlock - 1) / kBlock;
  const int nth = s.B * s.T * s.D > kParallelWork ? omp_get_max_threads() : 1;
  std::vector<std::vector<T>> local(nth);
#pragma omp parallel num_threads(nth)
  {
    std::vector<T>& gl = local[omp_get_thread_num()];
    gl.assign(static_cast<std::size_t>(s.D), T(0));
#pragma omp for schedule(static)
    for (std::int64_t item = 0; item < s.B * nblk; ++item) {
      const std::int64_t b = item / nblk, d0 = (item % nblk) * kBlock, d1 = std::min(s.D, d0 + kBlock);
      const T sqrt_floor = sqrt_fast(static_cast<T>(kSqrtGradFloor));
      T nsp[kBlock], sig_neg[kBlock], g[kBlock];
      for (std::int64_t d = d0; d < d1; ++d) {
        nsp[d - d0] = static_cast<T>(-c) * softplus(-lam[d]);
        sig_neg[d - d0] = T(1) / (T(1) + std::exp(lam[d]));  // sigma(-lambda) = d softplus(-lambda)/d(-lambda)
        g[d - d0] = 0;
      }
      for (std::int64_t t = s.T - 1; t >= 0; --t) {
        const std::int64_t row = (b * s.T + t) * s.D;
        const T* hp = t > 0 ? h + row - s.D : nullptr;
        // The forward's x, r, i, h are cold by now and the rows run backwards in time, a
        // pattern the hardware prefetchers miss: fetch the rows kAhead steps earlier.
        if (t > kAhead) prefetch_rows(row - kAhead * s.D + d0, d1 - d0, s.D, x, r, ig, h);
#pragma omp simd
        for (std::int64_t d = d0; d < d1; ++d) {
          const std::int64_t j = d - d0, e = row + d;
          const T log_a = nsp[j] * r[e];
          T a, z;
          decay(log_a, a, z);
          const T m = sqrt_fast(z);
          const T gg = g[j] + gh[e];  // dL/dh_t
          const T ix = ig[e] * x[e];
          // h_t = a h_{t-1} + m (i x),  m = sqrt(1 - a^2)
          gx[e] = gg * m * ig[e];
          gi[e] = gg * m * x[e];
          const T dm_dz = T(0.5) / std::max(m, sqrt_floor);  // sqrt(max(z, floor)): sqrt is monotone
          const T ga = gg * ((hp ? hp[d] : T(0)) - dm_dz * 2 * a * ix);
          // a = exp(log_a), log_a = -c r softplus(-lambda)
          const T glog = ga * a;
          gr[e] = glog * nsp[j];
          gl[static_cast<std::size_t>(d)] += glog * static_cast<T>(c) * r[e] * sig_neg[j];
          g[j] = gg * a;
        }
      }
    }
  }
  for (const auto& gl : local)
    for (std::int64_t d = 0; d < s.D; ++d) glam[d] += gl[static_cast<std::size_t>(d)];
}

}  // namespace

tensor rglru(const tensor& x, const tensor& r, const tensor& i, const tensor& lambda, double c, tensor* last_state) {
  prof::scope timed(prof::cat::scan);
  const lru_dims s = check_lru("rglru", x, r, i, lambda);
  tensor xc = x.contiguous_raw(), rc = r.contiguous_raw(), ic = i.contiguous_raw(), lc = lambda.contiguous_raw();
  tensor h = tensor::empty(x.shape(), x.type());
  dispatch_float(x.type(), "rglru", [&]<class T>() {
    lru_forward<T>(s, xc.data<T>(), rc.data<T>(), ic.data<T>(), lc.data<T>(), c, static_cast<const T*>(nullptr), h.data<T>());
  });
  if (last_state) *last_state = s.T > 0 ? h.narrow_raw(1, s.T - 1, 1).contiguous_raw().view_raw({s.B, s.D}) : tensor::zeros({s.B, s.D}, x.type());
  if (needs_grad({&x, &r, &i, &lambda})) {
    record("rglru", h, {x, r, i, lambda}, [s, xc, rc, ic, lc, c, hd = h.detach()](const tensor& gh_in) {
      tensor gh = gh_in.contiguous_raw();
      const dtype ty = xc.type();
      tensor gx = tensor::empty(xc.shape(), ty), gr = tensor::empty(xc.shape(), ty), gi = tensor::empty(xc.shape(), ty),
             gl = tensor::zeros(lc.shape(), ty);
      dispatch_float(ty, "rglru", [&]<class T>() {
        lru_backward<T>(s, xc.data<T>(), rc.data<T>(), ic.data<T>(), lc.data<T>(), c, hd.data<T>(), gh.data<T>(), gx.data<T>(),
                        gr.data<T>(), gi.data<T>(), gl.data<T>());
      });
      return std::vector<tensor>{gx, gr, gi, gl};
    });
  }
  return h;
}

tensor rglru_step(tensor& state, const tensor& x_t, const tensor& r_t, const tensor& i_t, const tensor& lambda, double c) {
  LMLAB_CHECK(x_t.dim() == 2, "rglru_step: x_t must be (B, D), got {}", shape_str(x_t.shape()));
  const std::int64_t B = x_t.size(0), D = x_t.size(1);
  const lru_dims s = check_lru("rglru_step", x_t.contiguous_raw().view_raw({B, 1, D}), r_t.contiguous_raw().view_raw({r_t.size(0), 1, -1}),
                               i_t.contiguous_raw().view_raw({i_t.size(0), 1, -1}), lambda);
  LMLAB_CHECK(state.shape() == (shape_t{B, D}) && state.type() == x_t.type(), "rglru_step: state must be {} {}, got {}",
              shape_str({B, D}), dtype_name(x_t.type()), shape_str(state.shape()));
  tensor xc = x_t.contiguous_raw(), rc = r_t.contiguous_raw(), ic = i_t.contiguous_raw(), lc = lambda.contiguous_raw();
  tensor h0 = state.contiguous_raw();
  tensor h = tensor::empty({B, D}, x_t.type());
  dispatch_float(x_t.type(), "rglru_step", [&]<class T>() {
    lru_forward<T>(s, xc.data<T>(), rc.data<T>(), ic.data<T>(), lc.data<T>(), c, h0.data<T>(), h.data<T>());
  });
  state = h.clone_raw();
  return h;
}

tensor rglru_reference(const tensor& x, const tensor& r, const tensor& i, const tensor& lambda, double c) {
  const lru_dims s = check_lru("rglru_reference", x, r, i, lambda);
  const auto xv = x.to_vector(), rv = r.to_vector(), iv = i.to_vector(), lv = lambda.to_vector();
  std::vector<double> h(xv.size());
  for (std::int64_t b = 0; b < s.B; ++b)
    for (std::int64_t d = 0; d < s.D; ++d) {
      const double a = 1.0 / (1.0 + std::exp(-lv[static_cast<std::size_t>(d)]));
      double prev = 0;
      for (std::int64_t t = 0; t < s.T; ++t) {
        const auto e = static_cast<std::size_t>((b * s.T + t) * s.D + d);
        const double at = std::pow(a, c * rv[e]);
        prev = at * prev + std::sqrt(1.0 - at * at) * iv[e] * xv[e];
        h[e] = prev;
      }
    }
  return tensor::from<double>(x.shape(), std::span<const double>(h)).to_raw(x.type());
}

}  // namespace lmlab
