// Elementwise ops: broadcasting binary ops, unary activations, dropout (see elementwise.hpp),
// and the raw broadcast/sum-to kernels their backwards share (ops/internal.hpp).
// Each op's forward is above its backward; kernels are plain loops over contiguous rows
// (OpenMP across rows, `omp simd` inside) with no per-element dispatch.
// Not for: reductions over named dims (reduce.cpp), normalisations (norm.cpp).
#include "ops/elementwise.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include <omp.h>

#include "autograd/autograd.hpp"
#include "autograd/profile.hpp"
#include "core/rng.hpp"
#include "ops/internal.hpp"
#include "ops/reduce.hpp"
#include "ops/vexp.hpp"

namespace lmlab {
namespace detail {

shape_t broadcast_shapes(const shape_t& a, const shape_t& b, const char* op) {
  const std::size_t n = std::max(a.size(), b.size());
  shape_t out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const std::int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    LMLAB_CHECK(da == db || da == 1 || db == 1, "{}: shapes {} and {} do not broadcast (dim {}: {} vs {})", op, shape_str(a),
                shape_str(b), i, da, db);
    out[i] = da == 1 ? db : da;
  }
  return out;
}

namespace {

// Strides of `t` viewed as broadcast to `out` (0 on broadcast dims), aligned from the right.
shape_t bcast_strides(const tensor& t, const shape_t& out) {
  shape_t st(out.size(), 0);
  const std::size_t lead = out.size() - t.shape().size();
  for (std::size_t i = 0; i < t.shape().size(); ++i)
    st[lead + i] = t.shape()[i] == 1 ? 0 : t.strides()[i];
  return st;
}

// Calls body(r, off_a, off_b) for rows r in [r0, r1) of `shape` (a row: all dims but the
// last), with the storage offsets (elements) of two operands of strides sa and sb. The
// offsets are carried from row to row like an odometer: one division per dim at r0 instead of
// per row, which at the lab's shapes (rows of 64 floats) cost several times the row's own work
// (issue 21).
template <class F>
inline void for_rows(std::int64_t r0, std::int64_t r1, const shape_t& shape, const shape_t& sa, const shape_t& sb, F&& body) {
  if (r0 >= r1) return;
  const std::size_t nd = shape.size() - 1;  // leading dims
  std::int64_t idx[16] = {}, oa = 0, ob = 0;
  LMLAB_ASSERT(nd <= 16, "elementwise: {} dims", shape.size());
  for (std::size_t d = nd, r = static_cast<std::size_t>(r0); d-- > 0;) {
    idx[d] = static_cast<std::int64_t>(r) % shape[d];
    r /= static_cast<std::size_t>(shape[d]);
    oa += idx[d] * sa[d];
    ob += idx[d] * sb[d];
  }
  for (std::int64_t r = r0;;) {
    body(r, oa, ob);
    if (++r == r1) return;
    for (std::size_t d = nd; d-- > 0;) {
      oa += sa[d];
      ob += sb[d];
      if (++idx[d] < shape[d]) break;
      oa -= sa[d] * shape[d];
      ob -= sb[d] * shape[d];
      idx[d] = 0;
    }
  }
}

// Rows [r0, r1) of `rows` that thread `me` of `nt` takes (contiguous, as schedule(static)).
inline void thread_rows(std::int64_t rows, int me, int nt, std::int64_t& r0, std::int64_t& r1) {
  r0 = rows * me / nt;
  r1 = rows * (me + 1) / nt;
}

// out[i] = f(a[i], b[i]) over the broadcast shape of out (contiguous). a and b may be strided.
template <class T, class F>
void binary_kernel(const tensor& a, const tensor& b, tensor& out, F f) {
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  T* po = out.data<T>();
  const std::int64_t n = out.numel();
  if (n == 0) return;
  if (a.shape() == out.shape() && b.shape() == out.shape() && a.is_contiguous() && b.is_contiguous()) {
#pragma omp parallel for simd if (n > k_par_grain)
    for (std::int64_t i = 0; i < n; ++i) po[i] = f(pa[i], pb[i]);
    return;
  }
  const shape_t& s = out.shape();
  if (s.empty()) {
    po[0] = f(pa[0], pb[0]);
    return;
  }
  const shape_t sa = bcast_strides(a, s), sb = bcast_strides(b, s);
  const std::int64_t inner = s.back(), rows = n / inner;
  const std::int64_t ia = sa.back(), ib = sb.back();
#pragma omp parallel if (n > k_par_grain)
  {
    std::int64_t r0, r1;
    thread_rows(rows, omp_get_thread_num(), omp_get_num_threads(), r0, r1);
    for_rows(r0, r1, s, sa, sb, [&](std::int64_t r, std::int64_t oa, std::int64_t ob) {
      const T* ra = pa + oa;
      const T* rb = pb + ob;
      T* ro = po + r * inner;
      if (ia == 1 && ib == 1) {
#pragma omp simd
        for (std::int64_t j = 0; j < inner; ++j) ro[j] = f(ra[j], rb[j]);
      } else if (ia == 1 && ib == 0) {
        const T vb = rb[0];
#pragma omp simd
        for (std::int64_t j = 0; j < inner; ++j) ro[j] = f(ra[j], vb);
      } else if (ia == 0 && ib == 1) {
        const T va = ra[0];
#pragma omp simd
        for (std::int64_t j = 0; j < inner; ++j) ro[j] = f(va, rb[j]);
      } else {
        for (std::int64_t j = 0; j < inner; ++j) ro[j] = f(ra[j * ia], rb[j * ib]);
      }
    });
  }
}

}  // namespace

tensor broadcast_to_raw(const tensor& x, const shape_t& shape) {
  LMLAB_CHECK(broadcast_shapes(x.shape(), shape, "expand") == shape, "expand: shape {} cannot be expanded to {}",
              shape_str(x.shape()), shape_str(shape));
  tensor out = tensor::empty(shape, x.type());
  dispatch_float(x.type(), "expand", [&]<class T>() { binary_kernel<T>(x, x, out, [](T u, T) { return u; }); });
  return out;
}

// g (S...) -> (shape...) summing broadcast dims. Threads accumulate private f64 buffers over
// disjoint row ranges (deterministic for a given thread count; summed in thread order).
tensor sum_to_raw(const tensor& g, const shape_t& shape) {
  if (g.shape() == shape) return g;
  LMLAB_CHECK(broadcast_shapes(shape, g.shape(), "sum_to") == g.shape(), "sum_to: shape {} cannot be reduced to {}",
              shape_str(g.shape()), shape_str(shape));
  tensor out = tensor::zeros(shape, g.type());
  const std::int64_t m = out.numel();
  const std::int64_t n = g.numel();
  if (n == 0) return out;
  dispatch_float(g.type(), "sum_to", [&]<class T>() {
    const T* pg = g.data<T>();
    const shape_t& s = g.shape();
    // Strides into `out` viewed as broadcast to g's shape.
    const shape_t so = bcast_strides(out, s);
    if (s.empty()) {
      out.data<T>()[0] = pg[0];
      return;
    }
    const shape_t sg = g.strides();
    const std::int64_t inner = s.back(), rows = n / inner;
    const std::int64_t io = so.back(), ig = sg.back();
    const int nt = (n > k_par_grain && m * 8 <= (1 << 24)) ? omp_get_max_threads() : 1;
    std::vector<double> acc(static_cast<std::size_t>(m * nt), 0.0);
    // A bias gradient: (rows, inner) contiguous -> (inner). Columns go in blocks whose sums stay
    // in registers over the rows instead of a load and store of `a` per row; each column still
    // sums its rows in order from zero, so the result is the same bits.
    const bool column_sums = m == inner && io == 1 && g.is_contiguous();
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num();
      double* a = acc.data() + static_cast<std::int64_t>(t) * m;
      std::int64_t r0, r1;
      thread_rows(rows, t, omp_get_num_threads(), r0, r1);
      if (column_sums) {
        constexpr std::int64_t kCols = 16;
        std::int64_t j0 = 0;
        for (; j0 + kCols <= inner; j0 += kCols) {
          double sum[kCols] = {};
          for (std::int64_t r = r0; r < r1; ++r) {
            const T* rg = pg + r * inner + j0;
#pragma omp simd
            for (std::int64_t j = 0; j < kCols; ++j) sum[j] += rg[j];
          }
          for (std::int64_t j = 0; j < kCols; ++j) a[j0 + j] += sum[j];
        }
        for (std::int64_t r = r0; r < r1 && j0 < inner; ++r)
          for (std::int64_t j = j0; j < inner; ++j) a[j] += pg[r * inner + j];
      } else {
        for_rows(r0, r1, s, sg, so, [&](std::int64_t, std::int64_t og, std::int64_t oo) {
          const T* rg = pg + og;
          double* ra = a + oo;
          if (io == 0) {
            double sum = 0;
#pragma omp simd reduction(+ : sum)
            for (std::int64_t j = 0; j < inner; ++j) sum += rg[j * ig];
            ra[0] += sum;
          } else {
#pragma omp simd
            for (std::int64_t j = 0; j < inner; ++j) ra[j] += rg[j * ig];
          }
        });
      }
    }
    T* po = out.data<T>();
    for (std::int64_t i = 0; i < m; ++i) {
      double v = 0;
      for (int t = 0; t < nt; ++t) v += acc[static_cast<std::size_t>(t * m + i)];
      po[i] = static_cast<T>(v);
    }
  });
  return out;
}

}  // namespace detail

using namespace detail;

namespace {

enum class bin_op { add, sub, mul, div };

template <class T>
tensor binary_raw(const tensor& a, const tensor& b, bin_op op, const char* name) {
  tensor out = tensor::empty(broadcast_shapes(a.shape(), b.shape(), name), a.type());
  switch (op) {
    case bin_op::add: binary_kernel<T>(a, b, out, [](T x, T y) { return x + y; }); break;
    case bin_op::sub: binary_kernel<T>(a, b, out, [](T x, T y) { return x - y; }); break;
    case bin_op::mul: binary_kernel<T>(a, b, out, [](T x, T y) { return x * y; }); break;
    case bin_op::div: binary_kernel<T>(a, b, out, [](T x, T y) { return x / y; }); break;
  }
  return out;
}

tensor binary(const tensor& a, const tensor& b, bin_op op, const char* name) {
  prof::scope timed(prof::cat::elementwise);
  check_same_type(a, b, name);
  return dispatch_float(a.type(), name, [&]<class T>() { return binary_raw<T>(a, b, op, name); });
}

}  // namespace

// a (A...), b (B...) -> broadcast(A, B)
tensor add(const tensor& a, const tensor& b) {
  tensor out = binary(a, b, bin_op::add, "add");
  if (needs_grad({&a, &b})) {
    record("add", out, {a, b}, [sa = a.shape(), sb = b.shape()](const tensor& g) -> std::vector<tensor> {
      // out = a + b: both receive g, summed over their broadcast dims.
      return {sum_to_raw(g, sa), sum_to_raw(g, sb)};
    });
  }
  return out;
}

tensor sub(const tensor& a, const tensor& b) {
  tensor out = binary(a, b, bin_op::sub, "sub");
  if (needs_grad({&a, &b})) {
    record("sub", out, {a, b}, [sa = a.shape(), sb = b.shape()](const tensor& g) -> std::vector<tensor> {
      // out = a - b
      return {sum_to_raw(g, sa), sum_to_raw(neg(g), sb)};
    });
  }
  return out;
}

tensor mul(const tensor& a, const tensor& b) {
  tensor out = binary(a, b, bin_op::mul, "mul");
  if (needs_grad({&a, &b})) {
    const bool ga = a.requires_grad(), gb = b.requires_grad();
    record("mul", out, {a, b}, [a = a.detach(), b = b.detach(), ga, gb](const tensor& g) -> std::vector<tensor> {
      // out = a * b: da = g * b, db = g * a
      return {ga ? sum_to_raw(mul(g, b), a.shape()) : tensor(), gb ? sum_to_raw(mul(g, a), b.shape()) : tensor()};
    });
  }
  return out;
}

tensor div(const tensor& a, const tensor& b) {
  tensor out = binary(a, b, bin_op::div, "div");
  if (needs_grad({&a, &b})) {
    const bool ga = a.requires_grad(), gb = b.requires_grad();
    record("div", out, {a, b}, [b = b.detach(), sa = a.shape(), o = out.detach(), ga, gb](const tensor& g) -> std::vector<tensor> {
      // out = a / b: da = g / b, db = -g * a / b^2 = -g * out / b
      tensor gdb = div(g, b);
      return {ga ? sum_to_raw(gdb, sa) : tensor(), gb ? sum_to_raw(neg(mul(gdb, o)), b.shape()) : tensor()};
    });
  }
  return out;
}

// ---- unary ------------------------------------------------------------------------------

namespace {

// y = fwd(x) elementwise; backward g -> bwd(x, y, g). `keep_x`/`keep_y` say which of x and y
// the backward reads, so only those are kept alive.
template <class Fwd, class Bwd>
tensor unary(const tensor& x, const char* name, Fwd fwd, Bwd bwd, bool keep_x, bool keep_y) {
  prof::scope timed(prof::cat::elementwise);
  tensor out = dispatch_float(x.type(), name, [&]<class T>() {
    tensor xc = x.contiguous_raw();
    tensor y = tensor::empty(x.shape(), x.type());
    const T* px = xc.data<T>();
    T* py = y.data<T>();
    const std::int64_t n = x.numel();
#pragma omp parallel for simd if (n > k_par_grain / 4)
    for (std::int64_t i = 0; i < n; ++i) py[i] = fwd(px[i]);
    return y;
  });
  if (needs_grad({&x})) {
    tensor xs = keep_x ? x.contiguous_raw() : tensor();
    tensor ys = keep_y ? out.detach() : tensor();
    record(name, out, {x}, [xs, ys, bwd, name](const tensor& g) -> std::vector<tensor> {
      tensor gx = tensor::empty(g.shape(), g.type());
      dispatch_float(g.type(), name, [&]<class T>() {
        tensor gc = g.contiguous_raw();
        const T* pg = gc.data<T>();
        T* po = gx.data<T>();
        const std::int64_t n = gx.numel();
        // One loop per saved operand, so each vectorises without per-element branches.
        if (xs.defined()) {
          const T* px = xs.data<T>();
#pragma omp parallel for simd if (n > k_par_grain / 4)
          for (std::int64_t i = 0; i < n; ++i) po[i] = bwd(px[i], T(0), pg[i]);
        } else if (ys.defined()) {
          const T* py = ys.data<T>();
#pragma omp parallel for simd if (n > k_par_grain / 4)
          for (std::int64_t i = 0; i < n; ++i) po[i] = bwd(T(0), py[i], pg[i]);
        } else {
#pragma omp parallel for simd if (n > k_par_grain / 4)
          for (std::int64_t i = 0; i < n; ++i) po[i] = bwd(T(0), T(0), pg[i]);
        }
      });
      return {gx};
    });
  }
  return out;
}

}  // namespace

tensor add_scalar(const tensor& x, double s) {
  // y = x + s; dx = g
  return unary(
      x, "add_scalar", [s](auto v) { return v + static_cast<decltype(v)>(s); }, [](auto, auto, auto g) { return g; }, false,
      false);
}

tensor mul_scalar(const tensor& x, double s) {
  // y = x * s; dx = g * s
  return unary(
      x, "mul_scalar", [s](auto v) { return v * static_cast<decltype(v)>(s); },
      [s](auto, auto, auto g) { return g * static_cast<decltype(g)>(s); }, false, false);
}

tensor neg(const tensor& x) {
  return unary(x, "neg", [](auto v) { return -v; }, [](auto, auto, auto g) { return -g; }, false, false);
}

tensor exp(const tensor& x) {
  // y = e^x; dx = g * y
  return unary(x, "exp", [](auto v) { return vexp(v); }, [](auto, auto y, auto g) { return g * y; }, false, true);
}

tensor log(const tensor& x) {
  // y = ln x; dx = g / x
  return unary(x, "log", [](auto v) { return std::log(v); }, [](auto v, auto, auto g) { return g / v; }, true, false);
}

tensor sqrt(const tensor& x) {
  // y = sqrt(x); dx = g / (2 y)
  return unary(
      x, "sqrt", [](auto v) { return std::sqrt(v); },
      [](auto, auto y, auto g) { return g / (static_cast<decltype(g)>(2) * y); }, false, true);
}

tensor tanh(const tensor& x) {
  // y = tanh x; dx = g (1 - y^2)
  return unary(
      x, "tanh", [](auto v) { return vtanh(v); }, [](auto, auto y, auto g) { return g * (static_cast<decltype(g)>(1) - y * y); },
      false, true);
}

tensor sigmoid(const tensor& x) {
  // y = 1 / (1 + e^-x); dx = g y (1 - y)
  return unary(
      x, "sigmoid",
      [](auto v) {
        using T = decltype(v);
        return T(1) / (T(1) + vexp(-v));
      },
      [](auto, auto y, auto g) { return g * y * (static_cast<decltype(g)>(1) - y); }, false, true);
}

tensor pow_scalar(const tensor& x, double p) {
  // y = x^p; dx = g p x^(p-1)
  return unary(
      x, "pow_scalar", [p](auto v) { return static_cast<decltype(v)>(std::pow(v, static_cast<decltype(v)>(p))); },
      [p](auto v, auto, auto g) {
        using T = decltype(v);
        return g * static_cast<T>(p) * static_cast<T>(std::pow(v, static_cast<T>(p - 1)));
      },
      true, false);
}

tensor relu(const tensor& x) {
  // y = max(x, 0); dx = g [x > 0]
  return unary(
      x, "relu", [](auto v) { return v > 0 ? v : decltype(v)(0); }, [](auto v, auto, auto g) { return v > 0 ? g : decltype(g)(0); },
      true, false);
}

tensor silu(const tensor& x) {
  // y = x s, s = sigmoid(x); dx = g s (1 + x (1 - s))   (silu_fwd, silu_bwd: ops/internal.hpp)
  return unary(
      x, "silu", [](auto v) { return silu_fwd(v); }, [](auto v, auto, auto g) { return silu_bwd(v, g); }, true, false);
}

tensor softplus(const tensor& x) {
  // y = log(1 + e^x) (x for x > 20, as PyTorch); dx = g sigmoid(x)   (ops/internal.hpp)
  return unary(
      x, "softplus", [](auto v) { return softplus_fwd(v); }, [](auto v, auto, auto g) { return softplus_bwd(v, g); }, true, false);
}

tensor gelu(const tensor& x, gelu_approx approx) {
  if (approx == gelu_approx::none) {
    // ref: Hendrycks & Gimpel 2016, "Gaussian Error Linear Units", GELU(x) = x Phi(x)
    // y = 0.5 x (1 + erf(x / sqrt 2)); dx = g (Phi(x) + x phi(x))
    return unary(
        x, "gelu",
        [](auto v) {
          using T = decltype(v);
          return T(0.5) * v * (T(1) + verf(v * T(0.70710678118654752440)));
        },
        [](auto v, auto, auto g) {
          decltype(v) cdf, pdf;
          normal_cdf_pdf(v, cdf, pdf);
          return g * (cdf + v * pdf);
        },
        true, false);
  }
  // ref: Hendrycks & Gimpel 2016, GELU tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3)))
  return unary(
      x, "gelu_tanh",
      [](auto v) {
        using T = decltype(v);
        const T u = T(0.79788456080286535588) * (v + T(0.044715) * v * v * v);
        return T(0.5) * v * (T(1) + vtanh(u));
      },
      [](auto v, auto, auto g) {
        using T = decltype(v);
        const T u = T(0.79788456080286535588) * (v + T(0.044715) * v * v * v);
        const T t = vtanh(u);
        const T du = T(0.79788456080286535588) * (T(1) + T(3 * 0.044715) * v * v);
        return g * (T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * du);
      },
      true, false);
}

// ---- dropout ----------------------------------------------------------------------------

namespace {

// Keep bit for element i: the (offset + i)-th 32-bit Philox word of (seed, stream "drop")
// compared against (1-p) * 2^32. A pure function of (seed, offset + i): thread-independent.
template <class T, class F>
void dropout_apply(std::uint64_t seed, std::uint64_t offset, double p, std::int64_t n, F&& body) {
  const std::uint64_t thresh = static_cast<std::uint64_t>(std::ldexp(1.0 - p, 32));
  const std::array<std::uint32_t, 2> key{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)};
  constexpr std::uint32_t k_stream = 0x64726f70u;  // "drop"
#pragma omp parallel for if (n > k_par_grain / 8) schedule(static)
  for (std::int64_t i0 = 0; i0 < n; i0 += 256) {
    const std::int64_t i1 = std::min<std::int64_t>(n, i0 + 256);
    std::uint64_t w = offset + static_cast<std::uint64_t>(i0);
    std::array<std::uint32_t, 4> block{};
    std::uint64_t cached = ~0ull;
    for (std::int64_t i = i0; i < i1; ++i, ++w) {
      const std::uint64_t b = w >> 2;
      if (b != cached) {
        block = philox4x32({static_cast<std::uint32_t>(b), static_cast<std::uint32_t>(b >> 32), k_stream, 0}, key);
        cached = b;
      }
      body(i, block[w & 3] < thresh);
    }
  }
}

}  // namespace

// x (...) -> y (...): y = x * keep / (1 - p)
// ref: Srivastava et al. 2014, "Dropout" (scaled at training time: "inverted" dropout, as PyTorch)
tensor dropout(const tensor& x, double p, bool training, std::uint64_t seed, std::uint64_t offset) {
  prof::scope timed(prof::cat::elementwise);
  LMLAB_CHECK(p >= 0 && p < 1, "dropout: p must be in [0, 1), got {}", p);
  if (!training || p == 0) return x;
  tensor out = dispatch_float(x.type(), "dropout", [&]<class T>() {
    tensor xc = x.contiguous_raw();
    tensor y = tensor::empty(x.shape(), x.type());
    const T* px = xc.data<T>();
    T* py = y.data<T>();
    const T scale = static_cast<T>(1.0 / (1.0 - p));
    dropout_apply<T>(seed, offset, p, x.numel(), [&](std::int64_t i, bool keep) { py[i] = keep ? px[i] * scale : T(0); });
    return y;
  });
  if (needs_grad({&x})) {
    // The mask is recomputed from (seed, offset), not stored.
    record("dropout", out, {x}, [p, seed, offset](const tensor& g) -> std::vector<tensor> {
      tensor gx = tensor::empty(g.shape(), g.type());
      dispatch_float(g.type(), "dropout", [&]<class T>() {
        tensor gc = g.contiguous_raw();
        const T* pg = gc.data<T>();
        T* po = gx.data<T>();
        const T scale = static_cast<T>(1.0 / (1.0 - p));
        dropout_apply<T>(seed, offset, p, g.numel(), [&](std::int64_t i, bool keep) { po[i] = keep ? pg[i] * scale : T(0); });
      });
      return {gx};
    });
  }
  return out;
}

}  // namespace lmlab
