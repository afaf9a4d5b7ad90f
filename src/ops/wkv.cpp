// WKV forward/backward/step: see wkv.hpp. Work items are (batch, block of channels); the time
// loop is serial, channels inside a block are contiguous. The backward recomputes the scaled
// sums forwards (for dw, du) and then runs the adjoint sums backwards (for dk, dv), both in
// log-scaled form so that no exponential of an unbounded exponent is ever formed. Every time
// loop has the block's channels as its inner `omp simd` loop, with exp_fast (ops/vexp.hpp).
#include "ops/wkv.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "autograd/autograd.hpp"
#include "autograd/profile.hpp"
#include "ops/vexp.hpp"

namespace lmlab {

namespace {

constexpr std::int64_t kBlock = 16;
constexpr std::int64_t kParallelWork = 1 << 14;

struct wkv_dims {
  std::int64_t B, T, C;
};

wkv_dims check_wkv(const char* op, const tensor& w, const tensor& u, const tensor& k, const tensor& v) {
  LMLAB_CHECK(k.dim() == 3, "{}: k must be (B, T, C), got {}", op, shape_str(k.shape()));
  const wkv_dims s{k.size(0), k.size(1), k.size(2)};
  LMLAB_CHECK(v.shape() == k.shape(), "{}: v {} must match k {}", op, shape_str(v.shape()), shape_str(k.shape()));
  LMLAB_CHECK(w.shape() == shape_t{s.C} && u.shape() == shape_t{s.C}, "{}: w and u must be ({}), got {} and {}", op, s.C,
              shape_str(w.shape()), shape_str(u.shape()));
  LMLAB_CHECK(w.type() == k.type() && u.type() == k.type() && v.type() == k.type(), "{}: w, u, k, v must share one dtype", op);
  return s;
}

// One step of the stable recurrence for channel c: returns wkv_t and advances (a, b, p).
template <class T>
inline T wkv_cell(T w, T u, T kk, T vv, T& a, T& b, T& p) {
  // Output: the current token enters with bonus u. ref: RWKV-4 eq. 16, rescaled by e^{-max}.
  T ww = u + kk;
  T q = std::max(p, ww);
  T e1 = exp_fast(p - q), e2 = exp_fast(ww - q);
  const T y = (e1 * a + e2 * vv) / (e1 * b + e2);
  // State: decay the sums by e^{w}, add e^{k} v. ref: RWKV-4 eq. 17-18 (recurrent form).
  ww = w + p;
  q = std::max(ww, kk);
  e1 = exp_fast(ww - q);
  e2 = exp_fast(kk - q);
  a = e1 * a + e2 * vv;
  b = e1 * b + e2;
  p = q;
  return y;
}

template <class T>
void wkv_forward(const wkv_dims& s, const T* w, const T* u, const T* k, const T* v, T* y, T* state_out) {
  const std::int64_t nblk = (s.C + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (s.B * s.T * s.C > kParallelWork)
  for (std::int64_t item = 0; item < s.B * nblk; ++item) {
    const std::int64_t b = item / nblk, c0 = (item % nblk) * kBlock, c1 = std::min(s.C, c0 + kBlock);
    T a[kBlock], bb[kBlock], p[kBlock];
    for (std::int64_t j = 0; j < kBlock; ++j) {
      a[j] = bb[j] = 0;
      p[j] = -std::numeric_limits<T>::infinity();
    }
    for (std::int64_t t = 0; t < s.T; ++t) {
      const std::int64_t row = (b * s.T + t) * s.C;
#pragma omp simd
      for (std::int64_t c = c0; c < c1; ++c) y[row + c] = wkv_cell(w[c], u[c], k[row + c], v[row + c], a[c - c0], bb[c - c0], p[c - c0]);
    }
    if (state_out)
      for (std::int64_t c = c0; c < c1; ++c) {
        state_out[(b * 3 + 0) * s.C + c] = a[c - c0];
        state_out[(b * 3 + 1) * s.C + c] = bb[c - c0];
        state_out[(b * 3 + 2) * s.C + c] = p[c - c0];
      }
  }
}

// Long (~95 lines) on purpose: one fused loop nest (block, time backwards, channel) whose
// running sums must be carried in this order; its inner steps stay together to vectorise.
template <class T>
void wkv_backward(const wkv_dims& s, const T* w, const T* u, const T* k, const T* v, const T* y, const T* gy, T* gw, T* gu,
                  T* gk, T* gv) {
  const std::int64_t nblk = (s.C + kBlock - 1) / kBlock;
  const int nth = s.B * s.T * s.C > kParallelWork ? omp_get_max_threads() : 1;
  std::vector<std::vector<T>> lw(nth), lu(nth);
  const T neg_inf = -std::numeric_limits<T>::infinity();
#pragma omp parallel num_threads(nth)
  {
    const int me = omp_get_thread_num();
    lw[me].assign(static_cast<std::size_t>(s.C), T(0));
    lu[me].assign(static_cast<std::size_t>(s.C), T(0));
    // Per time step and channel: q = gy/D~ (D = D~ e^{p}), p, and r = gy e^{u+k}/D.
    std::vector<T> qs(static_cast<std::size_t>(s.T * kBlock)), ps(qs.size()), rs(qs.size());
#pragma omp for schedule(static)
    for (std::int64_t item = 0; item < s.B * nblk; ++item) {
      const std::int64_t b = item / nblk, c0 = (item % nblk) * kBlock, nc = std::min(s.C, c0 + kBlock) - c0;
      // Pass 1, forwards. a, bb: the sums of eq. 16 scaled by e^{-p}; ga, gb: the sums
      // A'_t = sum_{i<t} (t-1-i) e^{(t-1-i)w + k_i} v_i (and without v_i) on the same scale,
      // the derivatives of a_t, b_t with respect to w.
      T a[kBlock], bb[kBlock], p[kBlock], ga[kBlock], gb[kBlock], sw[kBlock], su[kBlock];
      for (std::int64_t j = 0; j < kBlock; ++j) {
        a[j] = bb[j] = ga[j] = gb[j] = sw[j] = su[j] = 0;
        p[j] = neg_inf;
      }
      for (std::int64_t t = 0; t < s.T; ++t) {
        const std::int64_t i0 = (b * s.T + t) * s.C + c0;
        T* qst = qs.data() + t * kBlock;
        T* pst = ps.data() + t * kBlock;
        T* rst = rs.data() + t * kBlock;
#pragma omp simd
        for (std::int64_t j = 0; j < nc; ++j) {
          const std::int64_t i = i0 + j, c = c0 + j;
          const T kk = k[i], vv = v[i], yy = y[i];
          const T ww = u[c] + kk, q = std::max(p[j], ww);
          const T e1 = exp_fast(p[j] - q), e2 = exp_fast(ww - q);
          const T qq = gy[i] / (e1 * bb[j] + e2);
          // y_t = (a_t + e^{u+k_t} v_t) / (b_t + e^{u+k_t}):
          //   dy/dw = (A'_t - y B'_t)/D_t,  dy/du = e^{u+k_t}(v_t - y_t)/D_t
          sw[j] += qq * e1 * (ga[j] - yy * gb[j]);
          su[j] += qq * e2 * (vv - yy);
          qst[j] = qq;
          pst[j] = q;
          rst[j] = qq * e2;
          // a_{t+1} = e^w a_t + e^{k_t} v_t;  A'_{t+1} = e^w (A'_t + a_t)
          const T wp = w[c] + p[j], np = std::max(wp, kk);
          const T f1 = exp_fast(wp - np), f2 = exp_fast(kk - np);
          ga[j] = f1 * (ga[j] + a[j]);
          gb[j] = f1 * (gb[j] + bb[j]);
          a[j] = f1 * a[j] + f2 * vv;
          bb[j] = f1 * bb[j] + f2;
          p[j] = np;
        }
      }
      for (std::int64_t j = 0; j < nc; ++j) {
        lw[me][static_cast<std::size_t>(c0 + j)] += sw[j];
        lu[me][static_cast<std::size_t>(c0 + j)] += su[j];
      }
      // Pass 2, backwards. S1_i = sum_{s>i} e^{(s-1-i)w} gy_s/D_s and S2_i (the same times
      // y_s), stored as e^{m} (s1, s2). Token i enters every later output with weight
      // e^{(s-1-i)w + k_i}/D_s, so
      //   dL/dv_i = gy_i e^{u+k_i}/D_i + e^{k_i} S1_i
      //   dL/dk_i = gy_i e^{u+k_i}(v_i - y_i)/D_i + e^{k_i}(v_i S1_i - S2_i).
      T* s1 = a;  // pass 1's arrays are free now
      T* s2 = bb;
      T* m = p;
      for (std::int64_t j = 0; j < kBlock; ++j) {
        s1[j] = s2[j] = 0;
        m[j] = neg_inf;
      }
      for (std::int64_t t = s.T - 1; t >= 0; --t) {
        const std::int64_t i0 = (b * s.T + t) * s.C + c0;
        const T* qst = qs.data() + t * kBlock;
        const T* pst = ps.data() + t * kBlock;
        const T* rst = rs.data() + t * kBlock;
#pragma omp simd
        for (std::int64_t j = 0; j < nc; ++j) {
          const std::int64_t i = i0 + j, c = c0 + j;
          const T kk = k[i], vv = v[i], yy = y[i], r = rst[j];
          const T ek = m[j] == neg_inf ? T(0) : exp_fast(kk + m[j]);
          gv[i] = r + ek * s1[j];
          gk[i] = r * (vv - yy) + ek * (vv * s1[j] - s2[j]);
          // S1_{i-1} = e^w S1_i + gy_i/D_i,  gy_i/D_i = qs_i e^{-p_i}
          const T nm = std::max(w[c] + m[j], -pst[j]);
          const T f1 = m[j] == neg_inf ? T(0) : exp_fast(w[c] + m[j] - nm), f2 = exp_fast(-pst[j] - nm);
          s1[j] = f1 * s1[j] + f2 * qst[j];
          s2[j] = f1 * s2[j] + f2 * qst[j] * yy;
          m[j] = nm;
        }
      }
    }
  }
  for (int th = 0; th < nth; ++th)
    for (std::int64_t c = 0; c < s.C; ++c) {
      gw[c] += lw[th][static_cast<std::size_t>(c)];
      gu[c] += lu[th][static_cast<std::size_t>(c)];
    }
}

}  // namespace

tensor wkv(const tensor& w, const tensor& u, const tensor& k, const tensor& v, tensor* state_out) {
  prof::scope timed(prof::cat::scan);
  const wkv_dims s = check_wkv("wkv", w, u, k, v);
  tensor wc = w.contiguous_raw(), uc = u.contiguous_raw(), kc = k.contiguous_raw(), vc = v.contiguous_raw();
  tensor y = tensor::empty(k.shape(), k.type());
  tensor st;
  if (state_out) st = tensor::empty({s.B, 3, s.C}, k.type());
  dispatch_float(k.type(), "wkv", [&]<class T>() {
    wkv_forward<T>(s, wc.data<T>(), uc.data<T>(), kc.data<T>(), vc.data<T>(), y.data<T>(), state_out ? st.data<T>() : nullptr);
  });
  if (state_out) *state_out = st;
  if (needs_grad({&w, &u, &k, &v})) {
    record("wkv", y, {w, u, k, v}, [s, wc, uc, kc, vc, yd = y.detach()](const tensor& gy_in) {
      tensor gy = gy_in.contiguous_raw();
      const dtype ty = kc.type();
      tensor gw = tensor::zeros(wc.shape(), ty), gu = tensor::zeros(uc.shape(), ty);
      tensor gk = tensor::empty(kc.shape(), ty), gv = tensor::empty(vc.shape(), ty);
      dispatch_float(ty, "wkv", [&]<class T>() {
        wkv_backward<T>(s, wc.data<T>(), uc.data<T>(), kc.data<T>(), vc.data<T>(), yd.data<T>(), gy.data<T>(), gw.data<T>(),
                        gu.data<T>(), gk.data<T>(), gv.data<T>());
      });
      return std::vector<tensor>{gw, gu, gk, gv};
    });
  }
  return y;
}

tensor wkv_initial_state(std::int64_t B, std::int64_t C, dtype t) {
  tensor st = tensor::zeros({B, 3, C}, t);
  st.narrow_raw(1, 2, 1).fill_(-std::numeric_limits<double>::infinity());
  return st;
}

tensor wkv_step(tensor& state, const tensor& w, const tensor& u, const tensor& k_t, const tensor& v_t) {
  LMLAB_CHECK(k_t.dim() == 2, "wkv_step: k_t must be (B, C), got {}", shape_str(k_t.shape()));
  const std::int64_t B = k_t.size(0), C = k_t.size(1);
  check_wkv("wkv_step", w, u, k_t.contiguous_raw().view_raw({B, 1, C}), v_t.contiguous_raw().view_raw({v_t.size(0), 1, -1}));
  LMLAB_CHECK(state.shape() == (shape_t{B, 3, C}) && state.is_contiguous() && state.type() == k_t.type(),
              "wkv_step: state must be a contiguous {} {} (see wkv_initial_state), got {}", shape_str({B, 3, C}),
              dtype_name(k_t.type()), shape_str(state.shape()));
  tensor wc = w.contiguous_raw(), uc = u.contiguous_raw(), kc = k_t.contiguous_raw(), vc = v_t.contiguous_raw();
  tensor y = tensor::empty({B, C}, k_t.type());
  dispatch_float(k_t.type(), "wkv_step", [&]<class T>() {
    T* st = state.data<T>();
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t c = 0; c < C; ++c)
        y.data<T>()[b * C + c] = wkv_cell(wc.data<T>()[c], uc.data<T>()[c], kc.data<T>()[b * C + c], vc.data<T>()[b * C + c],
                                          st[(b * 3 + 0) * C + c], st[(b * 3 + 1) * C + c], st[(b * 3 + 2) * C + c]);
  });
  return y;
}

tensor wkv_reference(const tensor& w, const tensor& u, const tensor& k, const tensor& v) {
  const wkv_dims s = check_wkv("wkv_reference", w, u, k, v);
  const auto wv = w.to_vector(), uv = u.to_vector(), kv = k.to_vector(), vv = v.to_vector();
  std::vector<double> y(kv.size());
  for (std::int64_t b = 0; b < s.B; ++b)
    for (std::int64_t c = 0; c < s.C; ++c)
      for (std::int64_t t = 0; t < s.T; ++t) {
        auto at = [&](std::int64_t tt) { return static_cast<std::size_t>((b * s.T + tt) * s.C + c); };
        double num = std::exp(uv[static_cast<std::size_t>(c)] + kv[at(t)]) * vv[at(t)];
        double den = std::exp(uv[static_cast<std::size_t>(c)] + kv[at(t)]);
        for (std::int64_t i = 0; i < t; ++i) {
          const double e = std::exp(static_cast<double>(t - 1 - i) * wv[static_cast<std::size_t>(c)] + kv[at(i)]);
          num += e * vv[at(i)];
          den += e;
        }
        y[at(t)] = num / den;
      }
  return tensor::from<double>(k.shape(), std::span<const double>(y)).to_raw(k.type());
}

}  // namespace lmlab
