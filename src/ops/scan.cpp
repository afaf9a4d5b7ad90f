// Selective scan and causal depthwise conv1d: forward, backward, step, reference. See scan.hpp.
// Parallelism: work items are (batch, block of kScanBlock channels); inside an item the time
// loop is serial and the channel/state loops are contiguous so they vectorise. Per-thread
// scratch is allocated once per call, never per time step.
#include "ops/scan.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "autograd/autograd.hpp"

namespace lmlab {

namespace {

constexpr std::int64_t kScanBlock = 8;  // channels per work item (state kScanBlock*N)
// Below this many state updates a call runs on one thread: a parallel region's fork/join
// costs more than the work (and gradchecks call tiny problems thousands of times).
constexpr std::int64_t kParallelWork = 1 << 15;

struct scan_dims {
  std::int64_t B, T, D, N;
};

void check_float(const tensor& t, const char* op, const char* name, dtype want) {
  LMLAB_CHECK(t.type() == want, "{}: {} is {}, expected {} like u", op, name, dtype_name(t.type()), dtype_name(want));
}

scan_dims check_scan(const char* op, const tensor& u, const tensor& delta, const tensor& A, const tensor& Bm,
                     const tensor& Cm, const tensor& Dskip) {
  LMLAB_CHECK(u.dim() == 3, "{}: u must be (B, T, D), got {}", op, shape_str(u.shape()));
  LMLAB_CHECK(A.dim() == 2, "{}: A must be (D, N), got {}", op, shape_str(A.shape()));
  scan_dims s{u.size(0), u.size(1), u.size(2), A.size(1)};
  LMLAB_CHECK(delta.shape() == u.shape(), "{}: delta {} must match u {}", op, shape_str(delta.shape()), shape_str(u.shape()));
  LMLAB_CHECK(A.size(0) == s.D, "{}: A has {} rows, u has D = {}", op, A.size(0), s.D);
  const shape_t bn{s.B, s.T, s.N};
  LMLAB_CHECK(Bm.shape() == bn, "{}: B must be {} (batch, time, d_state), got {}", op, shape_str(bn), shape_str(Bm.shape()));
  LMLAB_CHECK(Cm.shape() == bn, "{}: C must be {} (batch, time, d_state), got {}", op, shape_str(bn), shape_str(Cm.shape()));
  if (Dskip.defined()) LMLAB_CHECK(Dskip.shape() == shape_t{s.D}, "{}: D skip must be ({}), got {}", op, s.D, shape_str(Dskip.shape()));
  check_float(delta, op, "delta", u.type());
  check_float(A, op, "A", u.type());
  check_float(Bm, op, "B", u.type());
  check_float(Cm, op, "C", u.type());
  if (Dskip.defined()) check_float(Dskip, op, "D", u.type());
  return s;
}

// Runs the recurrence for batch b, channels [d0, d1). h (nd*N) holds the state on entry and
// exit; y may be null (the backward's recompute). When hist is given it receives h_t for every t: hist[(t*nd + dd)*N + n].
template <class T>
void scan_block_forward(const scan_dims& s, std::int64_t b, std::int64_t d0, std::int64_t d1, const T* u, const T* dl,
                        const T* A, const T* Bm, const T* Cm, const T* Dv, T* y, T* h, T* hist) {
  const std::int64_t N = s.N, nd = d1 - d0;
  for (std::int64_t t = 0; t < s.T; ++t) {
    const std::int64_t row = (b * s.T + t);
    const T* bt = Bm + row * N;
    const T* ct = Cm + row * N;
    for (std::int64_t dd = 0; dd < nd; ++dd) {
      const std::int64_t d = d0 + dd;
      const T dt = dl[row * s.D + d], ut = u[row * s.D + d], dtu = dt * ut;
      const T* ad = A + d * N;
      T* hd = h + dd * N;
      T acc = 0;
#pragma omp simd reduction(+ : acc)
      for (std::int64_t n = 0; n < N; ++n) {
        hd[n] = std::exp(dt * ad[n]) * hd[n] + dtu * bt[n];  // ref: Mamba eq. 2a, A_bar = exp(delta A), B_bar = delta B
        acc += ct[n] * hd[n];                                // ref: Mamba eq. 2b
      }
      if (y) y[row * s.D + d] = acc + (Dv ? Dv[d] * ut : T(0));
      if (hist) std::copy(hd, hd + N, hist + (t * nd + dd) * N);
    }
  }
}

template <class T>
void scan_forward(const scan_dims& s, const T* u, const T* dl, const T* A, const T* Bm, const T* Cm, const T* Dv, T* y,
                  T* last) {
  const std::int64_t nblk = (s.D + kScanBlock - 1) / kScanBlock;
#pragma omp parallel if (s.B * s.T * s.D * s.N > kParallelWork)
  {
    std::vector<T> h(static_cast<std::size_t>(kScanBlock * s.N));
#pragma omp for schedule(static)
    for (std::int64_t item = 0; item < s.B * nblk; ++item) {
      const std::int64_t b = item / nblk, d0 = (item % nblk) * kScanBlock, d1 = std::min(s.D, d0 + kScanBlock);
      std::fill(h.begin(), h.end(), T(0));
      scan_block_forward(s, b, d0, d1, u, dl, A, Bm, Cm, Dv, y, h.data(), static_cast<T*>(nullptr));
      if (last) std::copy(h.begin(), h.begin() + (d1 - d0) * s.N, last + (b * s.D + d0) * s.N);
    }
  }
}

// Adjoint of the recurrence, per work item, backwards in time. g[dd,n] = dL/dh_t accumulates
//   g_t = dy_t C_t + exp(delta_{t+1} A) g_{t+1}
// and each step's local derivatives of h_t = a h_{t-1} + delta B u (a = exp(delta A)) and of
// y_t = C h_t + D u are taken where the forward line is written.
template <class T>
void scan_backward(const scan_dims& s, const T* u, const T* dl, const T* A, const T* Bm, const T* Cm, const T* Dv,
                   const T* gy, T* gu, T* gdl, T* gA, T* gB, T* gC, T* gD) {
  const std::int64_t N = s.N, nblk = (s.D + kScanBlock - 1) / kScanBlock;
  const std::size_t bt_n = static_cast<std::size_t>(s.B * s.T * N);
  const int nth = s.B * s.T * s.D * s.N > kParallelWork ? omp_get_max_threads() : 1;
  // Thread-local accumulators for the inputs shared across channels or batches.
  std::vector<std::vector<T>> lA(nth), lB(nth), lC(nth), lD(nth);
#pragma omp parallel num_threads(nth)
  {
    const int me = omp_get_thread_num();
    std::vector<T>& a_acc = lA[me];
    std::vector<T>& b_acc = lB[me];
    std::vector<T>& c_acc = lC[me];
    std::vector<T>& d_acc = lD[me];
    a_acc.assign(static_cast<std::size_t>(s.D * N), T(0));
    b_acc.assign(bt_n, T(0));
    c_acc.assign(bt_n, T(0));
    d_acc.assign(static_cast<std::size_t>(s.D), T(0));
    std::vector<T> h(static_cast<std::size_t>(kScanBlock * N)), g(h.size());
    std::vector<T> hist(static_cast<std::size_t>(s.T * kScanBlock * N));
#pragma omp for schedule(static)
    for (std::int64_t item = 0; item < s.B * nblk; ++item) {
      const std::int64_t b = item / nblk, d0 = (item % nblk) * kScanBlock, d1 = std::min(s.D, d0 + kScanBlock), nd = d1 - d0;
      std::fill(h.begin(), h.end(), T(0));
      scan_block_forward(s, b, d0, d1, u, dl, A, Bm, Cm, Dv, static_cast<T*>(nullptr), h.data(), hist.data());
      std::fill(g.begin(), g.end(), T(0));
      for (std::int64_t t = s.T - 1; t >= 0; --t) {
        const std::int64_t row = b * s.T + t;
        const T* bt = Bm + row * N;
        const T* ct = Cm + row * N;
        T* gbt = b_acc.data() + row * N;
        T* gct = c_acc.data() + row * N;
        for (std::int64_t dd = 0; dd < nd; ++dd) {
          const std::int64_t d = d0 + dd, i = row * s.D + d;
          const T dt = dl[i], ut = u[i], gyt = gy[i];
          const T* ad = A + d * N;
          T* gad = a_acc.data() + d * N;
          T* gd = g.data() + dd * N;
          const T* ht = hist.data() + (t * nd + dd) * N;
          const T* hp = t > 0 ? hist.data() + ((t - 1) * nd + dd) * N : nullptr;
          // y_t = C h_t + D u_t
          T du = Dv ? gyt * Dv[d] : T(0), ddt = 0;
          if (Dv) d_acc[static_cast<std::size_t>(d)] += gyt * ut;
          for (std::int64_t n = 0; n < N; ++n) {
            const T gg = gd[n] + gyt * ct[n];  // dL/dh_t
            gct[n] += gyt * ht[n];
            // h_t = a h_{t-1} + delta B u,  a = exp(delta A)
            const T a = std::exp(dt * ad[n]);
            const T ga = hp ? gg * hp[n] : T(0);
            ddt += ga * a * ad[n] + gg * bt[n] * ut;
            gad[n] += ga * a * dt;
            gbt[n] += gg * dt * ut;
            du += gg * dt * bt[n];
            gd[n] = gg * a;
          }
          gu[i] = du;
          gdl[i] = ddt;
        }
      }
    }
  }
  // Reduce the thread-local partial sums.
  for (int th = 0; th < nth; ++th) {
    if (lA[th].empty()) continue;
    for (std::size_t i = 0; i < lA[th].size(); ++i) gA[i] += lA[th][i];
    for (std::size_t i = 0; i < bt_n; ++i) {
      gB[i] += lB[th][i];
      gC[i] += lC[th][i];
    }
    if (gD)
      for (std::size_t i = 0; i < lD[th].size(); ++i) gD[i] += lD[th][i];
  }
}

}  // namespace

tensor selective_scan(const tensor& u, const tensor& delta, const tensor& A, const tensor& Bm, const tensor& Cm,
                      const tensor& Dskip, tensor* last_state) {
  const scan_dims s = check_scan("selective_scan", u, delta, A, Bm, Cm, Dskip);
  tensor uc = u.contiguous_raw(), dc = delta.contiguous_raw(), ac = A.contiguous_raw(), bc = Bm.contiguous_raw(),
         cc = Cm.contiguous_raw();
  tensor Dc = Dskip.defined() ? Dskip.contiguous_raw() : tensor();
  tensor y = tensor::empty(u.shape(), u.type());
  tensor last;
  if (last_state) last = tensor::empty({s.B, s.D, s.N}, u.type());
  dispatch_float(u.type(), "selective_scan", [&]<class T>() {
    scan_forward<T>(s, uc.data<T>(), dc.data<T>(), ac.data<T>(), bc.data<T>(), cc.data<T>(), Dc.defined() ? Dc.data<T>() : nullptr,
                    y.data<T>(), last_state ? last.data<T>() : nullptr);
  });
  if (last_state) *last_state = last;
  if (needs_grad({&u, &delta, &A, &Bm, &Cm, &Dskip})) {
    record("selective_scan", y, {u, delta, A, Bm, Cm, Dskip}, [s, uc, dc, ac, bc, cc, Dc](const tensor& gy_in) {
      tensor gy = gy_in.contiguous_raw();
      const dtype t = uc.type();
      tensor gu = tensor::empty(uc.shape(), t), gdl = tensor::empty(uc.shape(), t), gA = tensor::zeros(ac.shape(), t),
             gB = tensor::zeros(bc.shape(), t), gC = tensor::zeros(cc.shape(), t);
      tensor gD = Dc.defined() ? tensor::zeros(Dc.shape(), t) : tensor();
      dispatch_float(t, "selective_scan", [&]<class T>() {
        scan_backward<T>(s, uc.data<T>(), dc.data<T>(), ac.data<T>(), bc.data<T>(), cc.data<T>(), Dc.defined() ? Dc.data<T>() : nullptr,
                         gy.data<T>(), gu.data<T>(), gdl.data<T>(), gA.data<T>(), gB.data<T>(), gC.data<T>(),
                         gD.defined() ? gD.data<T>() : nullptr);
      });
      return std::vector<tensor>{gu, gdl, gA, gB, gC, gD};
    });
  }
  return y;
}

tensor selective_scan_reference(const tensor& u, const tensor& delta, const tensor& A, const tensor& Bm, const tensor& Cm,
                                const tensor& Dskip) {
  const scan_dims s = check_scan("selective_scan_reference", u, delta, A, Bm, Cm, Dskip);
  const auto uv = u.to_vector(), dv = delta.to_vector(), av = A.to_vector(), bv = Bm.to_vector(), cv = Cm.to_vector();
  const auto Dv = Dskip.defined() ? Dskip.to_vector() : std::vector<double>(static_cast<std::size_t>(s.D), 0.0);
  std::vector<double> y(uv.size());
  for (std::int64_t b = 0; b < s.B; ++b)
    for (std::int64_t d = 0; d < s.D; ++d) {
      std::vector<double> h(static_cast<std::size_t>(s.N), 0.0);
      for (std::int64_t t = 0; t < s.T; ++t) {
        const auto i = static_cast<std::size_t>((b * s.T + t) * s.D + d);
        double acc = 0;
        for (std::int64_t n = 0; n < s.N; ++n) {
          const auto bn = static_cast<std::size_t>((b * s.T + t) * s.N + n);
          const double abar = std::exp(dv[i] * av[static_cast<std::size_t>(d * s.N + n)]);
          h[static_cast<std::size_t>(n)] = abar * h[static_cast<std::size_t>(n)] + dv[i] * bv[bn] * uv[i];
          acc += cv[bn] * h[static_cast<std::size_t>(n)];
        }
        y[i] = acc + Dv[static_cast<std::size_t>(d)] * uv[i];
      }
    }
  tensor out = tensor::from<double>(u.shape(), std::span<const double>(y));
  return out.to_raw(u.type());
}

tensor selective_scan_step(tensor& state, const tensor& u_t, const tensor& delta_t, const tensor& A, const tensor& Bm_t,
                           const tensor& Cm_t, const tensor& Dskip) {
  LMLAB_CHECK(u_t.dim() == 2 && A.dim() == 2, "selective_scan_step: u_t must be (B, D) and A (D, N), got {} and {}",
              shape_str(u_t.shape()), shape_str(A.shape()));
  const std::int64_t B = u_t.size(0), D = u_t.size(1), N = A.size(1);
  LMLAB_CHECK(state.shape() == (shape_t{B, D, N}), "selective_scan_step: state must be {}, got {}", shape_str({B, D, N}),
              shape_str(state.shape()));
  LMLAB_CHECK(state.is_contiguous(), "selective_scan_step: state must be contiguous");
  LMLAB_CHECK(delta_t.shape() == u_t.shape() && Bm_t.shape() == (shape_t{B, N}) && Cm_t.shape() == (shape_t{B, N}) && A.size(0) == D,
              "selective_scan_step: shapes delta {} B {} C {} A {} do not fit u_t {}", shape_str(delta_t.shape()),
              shape_str(Bm_t.shape()), shape_str(Cm_t.shape()), shape_str(A.shape()), shape_str(u_t.shape()));
  tensor uc = u_t.contiguous_raw(), dc = delta_t.contiguous_raw(), ac = A.contiguous_raw(), bc = Bm_t.contiguous_raw(),
         cc = Cm_t.contiguous_raw();
  tensor Dc = Dskip.defined() ? Dskip.contiguous_raw() : tensor();
  tensor y = tensor::empty({B, D}, u_t.type());
  const scan_dims s{B, 1, D, N};
  dispatch_float(u_t.type(), "selective_scan_step", [&]<class T>() {
    T* h = state.data<T>();
#pragma omp parallel for if (B * D * N > 65536)
    for (std::int64_t b = 0; b < B; ++b)
      scan_block_forward(s, b, 0, D, uc.data<T>(), dc.data<T>(), ac.data<T>(), bc.data<T>(), cc.data<T>(),
                         Dc.defined() ? Dc.data<T>() : nullptr, y.data<T>(), h + b * D * N, static_cast<T*>(nullptr));
  });
  return y;
}

// ---- causal depthwise conv1d ----

namespace {

struct conv_dims {
  std::int64_t B, T, D, K;
};

// y[b,t,:] = bias + sum_k w[:,k] * x[b, t-K+1+k, :]; wt is w transposed to (K, D).
template <class T>
void conv_forward(const conv_dims& s, const T* x, const T* wt, const T* bias, T* y) {
#pragma omp parallel for collapse(2) if (s.B * s.T * s.D > 32768)
  for (std::int64_t b = 0; b < s.B; ++b)
    for (std::int64_t t = 0; t < s.T; ++t) {
      T* yr = y + (b * s.T + t) * s.D;
      for (std::int64_t d = 0; d < s.D; ++d) yr[d] = bias ? bias[d] : T(0);
      for (std::int64_t k = std::max<std::int64_t>(0, s.K - 1 - t); k < s.K; ++k) {
        const T* xr = x + (b * s.T + t - s.K + 1 + k) * s.D;
        const T* wk = wt + k * s.D;
#pragma omp simd
        for (std::int64_t d = 0; d < s.D; ++d) yr[d] += wk[d] * xr[d];
      }
    }
}

}  // namespace

tensor causal_conv1d(const tensor& x, const tensor& w, const tensor& bias, tensor* last_state) {
  LMLAB_CHECK(x.dim() == 3, "causal_conv1d: x must be (B, T, D), got {}", shape_str(x.shape()));
  LMLAB_CHECK(w.dim() == 2 && w.size(0) == x.size(2) && w.size(1) >= 1, "causal_conv1d: w must be ({}, K), got {}", x.size(2),
              shape_str(w.shape()));
  LMLAB_CHECK(w.type() == x.type(), "causal_conv1d: w is {}, x is {}", dtype_name(w.type()), dtype_name(x.type()));
  if (bias.defined())
    LMLAB_CHECK(bias.shape() == shape_t{x.size(2)} && bias.type() == x.type(), "causal_conv1d: bias must be ({}) {}, got {} {}",
                x.size(2), dtype_name(x.type()), shape_str(bias.shape()), dtype_name(bias.type()));
  const conv_dims s{x.size(0), x.size(1), x.size(2), w.size(1)};
  tensor xc = x.contiguous_raw();
  tensor wt = w.transpose_raw(0, 1).contiguous_raw();  // (K, D)
  tensor bc = bias.defined() ? bias.contiguous_raw() : tensor();
  tensor y = tensor::empty(x.shape(), x.type());
  dispatch_float(x.type(), "causal_conv1d", [&]<class T>() {
    conv_forward<T>(s, xc.data<T>(), wt.data<T>(), bc.defined() ? bc.data<T>() : nullptr, y.data<T>());
  });
  if (last_state) {
    tensor st = tensor::zeros({s.B, s.K - 1, s.D}, x.type());
    for (std::int64_t j = 0; j < s.K - 1; ++j) {
      const std::int64_t t = s.T - (s.K - 1) + j;
      if (t >= 0) st.narrow_raw(1, j, 1).copy_from(xc.narrow_raw(1, t, 1));
    }
    *last_state = st;
  }
  if (needs_grad({&x, &w, &bias})) {
    record("causal_conv1d", y, {x, w, bias}, [s, xc, wt, has_bias = bias.defined()](const tensor& gy_in) {
      tensor gy = gy_in.contiguous_raw();
      const dtype ty = xc.type();
      tensor gx = tensor::empty(xc.shape(), ty), gwt = tensor::zeros({s.K, s.D}, ty);
      tensor gb = has_bias ? tensor::zeros({s.D}, ty) : tensor();
      dispatch_float(ty, "causal_conv1d", [&]<class T>() {
        const T* g = gy.data<T>();
        const T* x = xc.data<T>();
        const T* w = wt.data<T>();
        T* dx = gx.data<T>();
        // dx[b,s,:] = sum_k w[:,k] dy[b, s+K-1-k, :]   (the forward's taps, read backwards)
#pragma omp parallel for collapse(2) if (s.B * s.T * s.D > 32768)
        for (std::int64_t b = 0; b < s.B; ++b)
          for (std::int64_t p = 0; p < s.T; ++p) {
            T* dr = dx + (b * s.T + p) * s.D;
            for (std::int64_t d = 0; d < s.D; ++d) dr[d] = 0;
            for (std::int64_t k = 0; k < s.K; ++k) {
              const std::int64_t t = p + s.K - 1 - k;
              if (t >= s.T) continue;
              const T* gr = g + (b * s.T + t) * s.D;
              const T* wk = w + k * s.D;
#pragma omp simd
              for (std::int64_t d = 0; d < s.D; ++d) dr[d] += wk[d] * gr[d];
            }
          }
        // dw[d,k] = sum_{b,t} dy[b,t,d] x[b,t-K+1+k,d]; dbias = sum dy. Serial over (b,t):
        // O(B T K D) adds, small next to the scan.
        T* dw = gwt.data<T>();
        T* db = has_bias ? gb.data<T>() : nullptr;
        for (std::int64_t b = 0; b < s.B; ++b)
          for (std::int64_t t = 0; t < s.T; ++t) {
            const T* gr = g + (b * s.T + t) * s.D;
            if (db)
              for (std::int64_t d = 0; d < s.D; ++d) db[d] += gr[d];
            for (std::int64_t k = std::max<std::int64_t>(0, s.K - 1 - t); k < s.K; ++k) {
              const T* xr = x + (b * s.T + t - s.K + 1 + k) * s.D;
              T* dwk = dw + k * s.D;
#pragma omp simd
              for (std::int64_t d = 0; d < s.D; ++d) dwk[d] += gr[d] * xr[d];
            }
          }
      });
      return std::vector<tensor>{gx, gwt.transpose_raw(0, 1).contiguous_raw(), gb};
    });
  }
  return y;
}

tensor causal_conv1d_step(tensor& state, const tensor& x_t, const tensor& w, const tensor& bias) {
  LMLAB_CHECK(x_t.dim() == 2 && w.dim() == 2 && w.size(0) == x_t.size(1), "causal_conv1d_step: x_t (B, D) and w (D, K) expected, got {} and {}",
              shape_str(x_t.shape()), shape_str(w.shape()));
  const std::int64_t B = x_t.size(0), D = x_t.size(1), K = w.size(1);
  LMLAB_CHECK(state.shape() == (shape_t{B, K - 1, D}) && state.is_contiguous(), "causal_conv1d_step: state must be contiguous {}, got {}",
              shape_str({B, K - 1, D}), shape_str(state.shape()));
  tensor xc = x_t.contiguous_raw(), wc = w.contiguous_raw();
  tensor bc = bias.defined() ? bias.contiguous_raw() : tensor();
  tensor y = tensor::empty({B, D}, x_t.type());
  dispatch_float(x_t.type(), "causal_conv1d_step", [&]<class T>() {
    T* st = state.data<T>();
    const T* x = xc.data<T>();
    const T* wv = wc.data<T>();
    T* yv = y.data<T>();
    for (std::int64_t b = 0; b < B; ++b) {
      T* sb = st + b * (K - 1) * D;
      for (std::int64_t d = 0; d < D; ++d) {
        T acc = bc.defined() ? bc.data<T>()[d] : T(0);
        for (std::int64_t k = 0; k < K - 1; ++k) acc += wv[d * K + k] * sb[k * D + d];
        acc += wv[d * K + K - 1] * x[b * D + d];
        yv[b * D + d] = acc;
      }
      // Shift the window: drop the oldest input, append x_t.
      if (K > 1) {
        std::copy(sb + D, sb + (K - 1) * D, sb);
        std::copy(x + b * D, x + (b + 1) * D, sb + (K - 2) * D);
      }
    }
  });
  return y;
}

}  // namespace lmlab
