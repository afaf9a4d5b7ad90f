// layer_norm, rms_norm, softmax, log_softmax and embedding with autograd (see norm.hpp).
// Row kernels: one row of C elements per iteration, rows split over OpenMP threads, `omp simd`
// inside. layer_norm/rms_norm save the per-row mean/rstd; parameter gradients are reduced
// from per-thread partial sums (deterministic for a given thread count).
// Not for: the fused cross-entropy (loss.cpp), attention's softmax (attention.cpp).
#include "ops/norm.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "autograd/autograd.hpp"
#include "autograd/profile.hpp"
#include "ops/internal.hpp"

namespace lmlab {

using namespace detail;

namespace {

std::int64_t rows_of(const tensor& x) { return x.dim() == 0 ? 1 : x.numel() / std::max<std::int64_t>(x.size(-1), 1); }

// Sums per-thread partial rows acc[t*C + c] into out (C), in thread order.
template <class T>
void reduce_partials(const std::vector<double>& acc, int nt, std::int64_t C, T* out) {
  for (std::int64_t c = 0; c < C; ++c) {
    double v = 0;
    for (int t = 0; t < nt; ++t) v += acc[static_cast<std::size_t>(t * C + c)];
    out[c] = static_cast<T>(v);
  }
}

// body(r, x_row, y_row) for each row r of an (R, C) input and output, the rows in parallel
// when the input is large (each row is computed by one thread, so the result does not depend
// on the thread count).
template <class T, class F>
void for_each_row(const T* px, T* py, std::int64_t R, std::int64_t C, F&& body) {
#pragma omp parallel for if (R * C > k_par_grain)
  for (std::int64_t r = 0; r < R; ++r) body(r, px + r * C, py + r * C);
}

// A norm backward's operands (g is (R, C)): g and w made contiguous (held here) and their
// data, the saved input's data, dx allocated when wanted (pdx null otherwise), and the threads
// nt whose per-thread partial sums the parameter gradients are reduced from.
template <class T>
struct norm_backward_io {
  tensor gc, wk;
  const T *pg, *px, *pw;
  T* pdx = nullptr;
  int nt;
  norm_backward_io(const tensor& g, const tensor& xc, const tensor& w, bool gx, tensor& dx, std::int64_t R, std::int64_t C)
      : gc(g.contiguous_raw()), wk(w.defined() ? w.contiguous_raw() : tensor()), pg(gc.data<T>()), px(xc.data<T>()),
        pw(wk.defined() ? wk.data<T>() : nullptr), nt((R * C > k_par_grain) ? omp_get_max_threads() : 1) {
    if (gx) {
      dx = tensor::empty(xc.shape(), g.type());
      pdx = dx.data<T>();
    }
  }
  // nt rows of C zeros when `wanted` (one per thread), else none.
  std::vector<double> partials(bool wanted, std::int64_t C) const {
    return std::vector<double>(wanted ? static_cast<std::size_t>(nt * C) : 0, 0.0);
  }
  // The (C) gradient summed from `acc` in thread order; undefined when not wanted.
  tensor reduce(const std::vector<double>& acc, bool wanted, std::int64_t C, dtype type) const {
    if (!wanted) return tensor();
    tensor out = tensor::empty({C}, type);
    reduce_partials<T>(acc, nt, C, out.data<T>());
    return out;
  }
};

void check_param(const tensor& p, const tensor& x, std::int64_t C, const char* op, const char* what) {
  if (!p.defined()) return;
  check_same_type(x, p, op);
  LMLAB_CHECK(p.dim() == 1 && p.size(0) == C, "{}: {} must be ({}) for input {}, got {}", op, what, C, shape_str(x.shape()),
              shape_str(p.shape()));
}

// layer_norm's backward: dx, dw, db (undefined where not wanted) from g (R, C) and the saved
// input, mean and rstd.
std::vector<tensor> layer_norm_backward(const tensor& g, const tensor& xc, const tensor& w, const tensor& mean_t,
                                        const tensor& rstd_t, bool gx, bool gw, bool gb) {
  const std::int64_t C = xc.size(-1), R = rows_of(xc);
  tensor dx, dw, db;
  dispatch_float(g.type(), "layer_norm", [&]<class T>() {
    const norm_backward_io<T> io(g, xc, w, gx, dx, R, C);
    const T *pg = io.pg, *px = io.px, *pw = io.pw, *pm = mean_t.data<T>(), *pr = rstd_t.data<T>();
    T* pdx = io.pdx;
    const int nt = io.nt;
    std::vector<double> aw = io.partials(gw, C), ab = io.partials(gb, C);
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num();
      std::vector<T> dxh(static_cast<std::size_t>(C));
#pragma omp for schedule(static)
      for (std::int64_t r = 0; r < R; ++r) {
        const T* xr = px + r * C;
        const T* gr = pg + r * C;
        const T m = pm[r], rs = pr[r];
        // y = xhat w + b, xhat = (x - m) rstd
        // dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), dxhat = g w
        if (pdx) {
          T s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
          for (std::int64_t c = 0; c < C; ++c) {
            const T d = gr[c] * (pw ? pw[c] : T(1));
            dxh[static_cast<std::size_t>(c)] = d;
            s1 += d;
            s2 += d * (xr[c] - m) * rs;
          }
          s1 /= static_cast<T>(C);
          s2 /= static_cast<T>(C);
          T* dr = pdx + r * C;
#pragma omp simd
          for (std::int64_t c = 0; c < C; ++c) dr[c] = rs * (dxh[static_cast<std::size_t>(c)] - s1 - (xr[c] - m) * rs * s2);
        }
        if (gw) {  // dw = sum_rows g xhat
          double* a = aw.data() + static_cast<std::int64_t>(t) * C;
#pragma omp simd
          for (std::int64_t c = 0; c < C; ++c) a[c] += static_cast<double>(gr[c] * (xr[c] - m) * rs);
        }
        if (gb) {  // db = sum_rows g
          double* a = ab.data() + static_cast<std::int64_t>(t) * C;
#pragma omp simd
          for (std::int64_t c = 0; c < C; ++c) a[c] += static_cast<double>(gr[c]);
        }
      }
    }
    dw = io.reduce(aw, gw, C, g.type());
    db = io.reduce(ab, gb, C, g.type());
  });
  return {dx, dw, db};
}

// rms_norm's backward: dx, dw (undefined where not wanted) from g (R, C) and the saved input
// and rstd.
std::vector<tensor> rms_norm_backward(const tensor& g, const tensor& xc, const tensor& w, const tensor& rstd_t, bool gx,
                                      bool gw) {
  const std::int64_t C = xc.size(-1), R = rows_of(xc);
  tensor dx, dw;
  dispatch_float(g.type(), "rms_norm", [&]<class T>() {
    const norm_backward_io<T> io(g, xc, w, gx, dx, R, C);
    const T *pg = io.pg, *px = io.px, *pw = io.pw, *pr = rstd_t.data<T>();
    T* pdx = io.pdx;
    const int nt = io.nt;
    std::vector<double> aw = io.partials(gw, C);
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num();
#pragma omp for schedule(static)
      for (std::int64_t r = 0; r < R; ++r) {
        const T* xr = px + r * C;
        const T* gr = pg + r * C;
        const T rs = pr[r];
        // y = xhat w, xhat = x rstd  =>  dx = rstd (dxhat - xhat mean(dxhat xhat)), dxhat = g w
        if (pdx) {
          T s = 0;
#pragma omp simd reduction(+ : s)
          for (std::int64_t c = 0; c < C; ++c) s += gr[c] * (pw ? pw[c] : T(1)) * xr[c] * rs;
          s /= static_cast<T>(C);
          T* dr = pdx + r * C;
#pragma omp simd
          for (std::int64_t c = 0; c < C; ++c) dr[c] = rs * (gr[c] * (pw ? pw[c] : T(1)) - xr[c] * rs * s);
        }
        if (gw) {  // dw = sum_rows g xhat
          double* a = aw.data() + static_cast<std::int64_t>(t) * C;
#pragma omp simd
          for (std::int64_t c = 0; c < C; ++c) a[c] += static_cast<double>(gr[c] * xr[c] * rs);
        }
      }
    }
    dw = io.reduce(aw, gw, C, g.type());
  });
  return {dx, dw};
}

}  // namespace

// ---- layer_norm -------------------------------------------------------------------------

// x (R, C), w (C), b (C) -> y (R, C); saves mean (R), rstd (R)
// ref: Ba, Kiros & Hinton 2016, "Layer Normalization", eq. 4 (biased variance, as PyTorch)
tensor layer_norm(const tensor& x, const tensor& w, const tensor& b, double eps) {
  prof::scope timed(prof::cat::elementwise);
  LMLAB_CHECK(x.dim() >= 1, "layer_norm: input must have at least 1 dim");
  const std::int64_t C = x.size(-1), R = rows_of(x);
  check_param(w, x, C, "layer_norm", "weight");
  check_param(b, x, C, "layer_norm", "bias");
  tensor xc = x.contiguous_raw();
  tensor out = tensor::empty(x.shape(), x.type());
  tensor mean_t = tensor::empty({R}, x.type()), rstd_t = tensor::empty({R}, x.type());
  dispatch_float(x.type(), "layer_norm", [&]<class T>() {
    const T* px = xc.data<T>();
    tensor wk = w.defined() ? w.contiguous_raw() : tensor(), bk = b.defined() ? b.contiguous_raw() : tensor();
    const T* pw = wk.defined() ? wk.data<T>() : nullptr;
    const T* pb = bk.defined() ? bk.data<T>() : nullptr;
    T* py = out.data<T>();
    T* pm = mean_t.data<T>();
    T* pr = rstd_t.data<T>();
    for_each_row(px, py, R, C, [&](std::int64_t r, const T* xr, T* yr) {
      T s = 0;
#pragma omp simd reduction(+ : s)
      for (std::int64_t c = 0; c < C; ++c) s += xr[c];
      const T m = s / static_cast<T>(C);
      T v = 0;
#pragma omp simd reduction(+ : v)
      for (std::int64_t c = 0; c < C; ++c) v += (xr[c] - m) * (xr[c] - m);
      const T rs = T(1) / std::sqrt(v / static_cast<T>(C) + static_cast<T>(eps));
      pm[r] = m;
      pr[r] = rs;
      if (pw && pb) {
#pragma omp simd
        for (std::int64_t c = 0; c < C; ++c) yr[c] = (xr[c] - m) * rs * pw[c] + pb[c];
      } else {
#pragma omp simd
        for (std::int64_t c = 0; c < C; ++c) yr[c] = (xr[c] - m) * rs * (pw ? pw[c] : T(1)) + (pb ? pb[c] : T(0));
      }
    });
  });
  if (needs_grad({&x, &w, &b})) {
    const bool gx = x.requires_grad(), gw = w.defined() && w.requires_grad(), gb = b.defined() && b.requires_grad();
    record("layer_norm", out, {x, w, b},
           [xc = xc.detach(), w = detach_opt(w), mean_t, rstd_t, gx, gw, gb](const tensor& g) {
             return layer_norm_backward(g, xc, w, mean_t, rstd_t, gx, gw, gb);
           });
  }
  return out;
}

// ---- rms_norm ---------------------------------------------------------------------------

// x (R, C), w (C) -> y (R, C) = x rstd w, rstd = 1 / sqrt(mean(x^2) + eps); saves rstd (R)
// ref: Zhang & Sennrich 2019, "Root Mean Square Layer Normalization", eq. 4
tensor rms_norm(const tensor& x, const tensor& w, double eps) {
  prof::scope timed(prof::cat::elementwise);
  LMLAB_CHECK(x.dim() >= 1, "rms_norm: input must have at least 1 dim");
  const std::int64_t C = x.size(-1), R = rows_of(x);
  check_param(w, x, C, "rms_norm", "weight");
  tensor xc = x.contiguous_raw();
  tensor out = tensor::empty(x.shape(), x.type());
  tensor rstd_t = tensor::empty({R}, x.type());
  dispatch_float(x.type(), "rms_norm", [&]<class T>() {
    tensor wk = w.defined() ? w.contiguous_raw() : tensor();
    const T* pw = wk.defined() ? wk.data<T>() : nullptr;
    const T* px = xc.data<T>();
    T* py = out.data<T>();
    T* pr = rstd_t.data<T>();
    for_each_row(px, py, R, C, [&](std::int64_t r, const T* xr, T* yr) {
      T s = 0;
#pragma omp simd reduction(+ : s)
      for (std::int64_t c = 0; c < C; ++c) s += xr[c] * xr[c];
      const T rs = T(1) / std::sqrt(s / static_cast<T>(C) + static_cast<T>(eps));
      pr[r] = rs;
#pragma omp simd
      for (std::int64_t c = 0; c < C; ++c) yr[c] = xr[c] * rs * (pw ? pw[c] : T(1));
    });
  });
  if (needs_grad({&x, &w})) {
    const bool gx = x.requires_grad(), gw = w.defined() && w.requires_grad();
    record("rms_norm", out, {x, w}, [xc = xc.detach(), w = detach_opt(w), rstd_t, gx, gw](const tensor& g) {
      return rms_norm_backward(g, xc, w, rstd_t, gx, gw);
    });
  }
  return out;
}

// ---- softmax / log_softmax --------------------------------------------------------------

namespace {

// x viewed as (O, N, I) around `dim`: y = softmax or log_softmax over N. Rows with I == 1 are
// contiguous and vectorised; otherwise the N elements are strided by I.
template <class T>
void softmax_kernel(const T* px, T* py, std::int64_t O, std::int64_t N, std::int64_t I, bool log_out) {
#pragma omp parallel for if (O * N * I > k_par_grain)
  for (std::int64_t o = 0; o < O * I; ++o) {
    const std::int64_t base = (o / I) * N * I + (o % I);
    const T* xr = px + base;
    T* yr = py + base;
    T m = -std::numeric_limits<T>::infinity();
    for (std::int64_t k = 0; k < N; ++k) m = std::max(m, xr[k * I]);
    if (m == -std::numeric_limits<T>::infinity()) m = 0;  // an all -inf row: keep NaN-free arithmetic below
    T s = 0;
    if (I == 1) {
#pragma omp simd reduction(+ : s)
      for (std::int64_t k = 0; k < N; ++k) {
        const T e = vexp(xr[k] - m);
        yr[k] = e;
        s += e;
      }
    } else {
      for (std::int64_t k = 0; k < N; ++k) {
        const T e = vexp(xr[k * I] - m);
        yr[k * I] = e;
        s += e;
      }
    }
    if (log_out) {
      const T lse = m + std::log(s);
      for (std::int64_t k = 0; k < N; ++k) yr[k * I] = xr[k * I] - lse;
    } else {
      const T inv = T(1) / s;
      for (std::int64_t k = 0; k < N; ++k) yr[k * I] *= inv;
    }
  }
}

tensor softmax_impl(const tensor& x, std::int64_t dim, bool log_out) {
  prof::scope timed(prof::cat::elementwise);
  const char* name = log_out ? "log_softmax" : "softmax";
  const std::int64_t nd = std::max<std::int64_t>(x.dim(), 1);
  const std::int64_t d = norm_dim(dim, nd, name);
  std::int64_t O = 1, N = x.dim() == 0 ? 1 : x.shape()[static_cast<std::size_t>(d)], I = 1;
  for (std::int64_t i = 0; i < d; ++i) O *= x.shape()[static_cast<std::size_t>(i)];
  for (std::int64_t i = d + 1; i < x.dim(); ++i) I *= x.shape()[static_cast<std::size_t>(i)];
  tensor xc = x.contiguous_raw();
  tensor out = tensor::empty(x.shape(), x.type());
  dispatch_float(x.type(), name, [&]<class T>() { softmax_kernel<T>(xc.data<T>(), out.data<T>(), O, N, I, log_out); });
  if (needs_grad({&x})) {
    record(name, out, {x}, [y = out.detach(), O, N, I, log_out, name](const tensor& g) -> std::vector<tensor> {
      tensor dx = tensor::empty(y.shape(), y.type());
      dispatch_float(g.type(), name, [&]<class T>() {
        tensor gc = g.contiguous_raw();
        const T* pg = gc.data<T>();
        const T* py = y.data<T>();
        T* pd = dx.data<T>();
#pragma omp parallel for if (O * N * I > k_par_grain)
        for (std::int64_t o = 0; o < O * I; ++o) {
          const std::int64_t base = (o / I) * N * I + (o % I);
          const T* gr = pg + base;
          const T* yr = py + base;
          T* dr = pd + base;
          T s = 0;
          if (log_out) {
            // y = x - lse  =>  dx = g - softmax(x) sum(g)
            for (std::int64_t k = 0; k < N; ++k) s += gr[k * I];
            for (std::int64_t k = 0; k < N; ++k) dr[k * I] = gr[k * I] - vexp(yr[k * I]) * s;
          } else {
            // y = softmax(x)  =>  dx = y (g - sum(g y))
            for (std::int64_t k = 0; k < N; ++k) s += gr[k * I] * yr[k * I];
            for (std::int64_t k = 0; k < N; ++k) dr[k * I] = yr[k * I] * (gr[k * I] - s);
          }
        }
      });
      return {dx};
    });
  }
  return out;
}

}  // namespace

// x (..., N, ...) -> same shape, normalised over `dim`
tensor softmax(const tensor& x, std::int64_t dim) { return softmax_impl(x, dim, false); }
tensor log_softmax(const tensor& x, std::int64_t dim) { return softmax_impl(x, dim, true); }

// ---- embedding --------------------------------------------------------------------------

// weight (V, C), ids (...) i32 -> (..., C)
tensor embedding(const tensor& weight, const tensor& ids) {
  prof::scope timed(prof::cat::elementwise);
  LMLAB_CHECK(ids.type() == dtype::i32, "embedding: ids must be i32, got {}", dtype_name(ids.type()));
  LMLAB_CHECK(weight.dim() == 2, "embedding: weight must be (V, C), got {}", shape_str(weight.shape()));
  const std::int64_t V = weight.size(0), C = weight.size(1), n = ids.numel();
  std::vector<std::int32_t> idv = ids.values<std::int32_t>();
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int32_t id = idv[static_cast<std::size_t>(i)];
    LMLAB_CHECK_HINT(id >= 0 && id < V, "ids must be in [0, vocab_size); check the tokenizer's vocab_size against the model's",
                     "embedding: id {} at position {} is out of range for a vocabulary of {}", id, i, V);
  }
  shape_t out_shape = ids.shape();
  out_shape.push_back(C);
  tensor out = tensor::empty(out_shape, weight.type());
  tensor wc = weight.contiguous_raw();
  dispatch_float(weight.type(), "embedding", [&]<class T>() {
    const T* pw = wc.data<T>();
    T* po = out.data<T>();
#pragma omp parallel for if (n * C > k_par_grain)
    for (std::int64_t i = 0; i < n; ++i) std::copy(pw + idv[static_cast<std::size_t>(i)] * C, pw + (idv[static_cast<std::size_t>(i)] + 1) * C, po + i * C);
  });
  if (needs_grad({&weight})) {
    record("embedding", out, {weight, ids}, [idv = std::move(idv), V, C](const tensor& g) -> std::vector<tensor> {
      // out[i] = weight[id_i]  =>  dweight[v] = sum_{i: id_i = v} g[i]. Threads own disjoint
      // column ranges, so repeated ids need no atomics and the sum order is fixed.
      tensor dw = tensor::zeros({V, C}, g.type());
      dispatch_float(g.type(), "embedding", [&]<class T>() {
        tensor gc = g.contiguous_raw();
        const T* pg = gc.data<T>();
        T* pd = dw.data<T>();
        const auto n = static_cast<std::int64_t>(idv.size());
#pragma omp parallel if (n * C > k_par_grain)
        {
          const int nt = omp_get_num_threads(), t = omp_get_thread_num();
          const std::int64_t c0 = C * t / nt, c1 = C * (t + 1) / nt;
          for (std::int64_t i = 0; i < n; ++i) {
            T* dr = pd + idv[static_cast<std::size_t>(i)] * C;
            const T* gr = pg + i * C;
#pragma omp simd
            for (std::int64_t c = c0; c < c1; ++c) dr[c] += gr[c];
          }
        }
      });
      return {dw, tensor()};
    });
  }
  return out;
}

}  // namespace lmlab
