// matmul and linear with autograd, on ops/gemm (see linalg.hpp). Transposed 2-D views are
// passed to the BLAS as transposed operands instead of being copied.
// Not for: attention (attention.cpp has a fused kernel).
#include "ops/linalg.hpp"

#include <algorithm>

#include "autograd/autograd.hpp"
#include "autograd/profile.hpp"
#include "ops/gemm.hpp"
#include "ops/internal.hpp"

namespace lmlab {

using namespace detail;

namespace {

// A stored matrix as the BLAS sees it: op(X) = X (trans false) or X^T, row stride ld.
template <class T>
struct mat {
  const T* p;
  bool trans;
  std::int64_t ld;
};

// The last two dims (r, c) with strides (s0, s1) of a view at element offset `off` from p0.
// Returns false when neither layout is BLAS-compatible (then the caller copies).
template <class T>
bool as_mat(const T* p0, std::int64_t r, std::int64_t c, std::int64_t s0, std::int64_t s1, mat<T>& m) {
  if ((s1 == 1 || c == 1) && (s0 >= std::max<std::int64_t>(c, 1) || r == 1)) {
    m = {p0, false, r == 1 ? std::max<std::int64_t>(c, 1) : s0};
    return true;
  }
  if ((s0 == 1 || r == 1) && (s1 >= std::max<std::int64_t>(r, 1) || c == 1)) {
    m = {p0, true, c == 1 ? std::max<std::int64_t>(r, 1) : s1};
    return true;
  }
  return false;
}

// C (M, N) = op_a(A) op_b(B) + beta C, where A/B are stored matrices (possibly transposed).
template <class T>
void mm(const mat<T>& A, bool ta, const mat<T>& B, bool tb, std::int64_t M, std::int64_t N, std::int64_t K, T beta, T* C,
        std::int64_t ldc) {
  gemm(A.trans != ta, B.trans != tb, M, N, K, T(1), A.p, A.ld, B.p, B.ld, beta, C, ldc);
}

// The product of all dims but the last (the rows of a (..., C) tensor seen as a matrix).
std::int64_t lead_rows(const shape_t& s) {
  std::int64_t r = 1;
  for (std::size_t i = 0; i + 1 < s.size(); ++i) r *= s[i];
  return r;
}

// Offsets (elements) of each batch matrix of t for batch dims [0, nb).
std::vector<std::int64_t> batch_offsets(const tensor& t, std::size_t nb) {
  std::int64_t count = 1;
  for (std::size_t i = 0; i < nb; ++i) count *= t.shape()[i];
  std::vector<std::int64_t> off(static_cast<std::size_t>(count));
  for (std::int64_t b = 0; b < count; ++b) {
    std::int64_t r = b, o = 0;
    for (std::size_t d = nb; d-- > 0;) {
      o += (r % t.shape()[d]) * t.strides()[d];
      r /= t.shape()[d];
    }
    off[static_cast<std::size_t>(b)] = o;
  }
  return off;
}

// A view of t's last two dims as matrices, copying t when its layout is not BLAS-friendly.
template <class T>
std::vector<mat<T>> mats_of(tensor& t, std::size_t nb) {
  const std::int64_t r = t.shape()[nb], c = t.shape()[nb + 1];
  mat<T> m{};
  if (!as_mat<T>(t.data<T>(), r, c, t.strides()[nb], t.strides()[nb + 1], m)) t = t.contiguous_raw();
  std::vector<mat<T>> out;
  for (std::int64_t o : batch_offsets(t, nb)) {
    as_mat<T>(t.data<T>() + o, r, c, t.strides()[nb], t.strides()[nb + 1], m);
    out.push_back(m);
  }
  return out;
}

// matmul's operand t (..., r, c) as matrices: over its first nb dims (batched), or (nb = 0) its
// leading dims folded into the rows of one (lead_rows, c) matrix. `keep` holds the tensor the
// views point into.
template <class T>
std::vector<mat<T>> operand_mats(const tensor& t, std::size_t nb, tensor& keep) {
  keep = nb == 0 && t.dim() > 2 ? t.contiguous_raw().view_raw({lead_rows(t.shape()), t.size(-1)}) : t;
  return mats_of<T>(keep, nb);
}

}  // namespace

// a (..., M, K) @ b (K, N) -> (..., M, N)  |  a (B..., M, K) @ b (B..., K, N) -> (B..., M, N)
tensor matmul(const tensor& a, const tensor& b) {
  prof::scope timed(prof::cat::gemm);
  check_same_type(a, b, "matmul");
  LMLAB_CHECK(a.dim() >= 2 && b.dim() >= 2, "matmul: expected at least 2-d operands, got {} and {}", shape_str(a.shape()),
              shape_str(b.shape()));
  const std::int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  LMLAB_CHECK_HINT(b.size(-2) == K, "a is (..., M, K) and b is (K, N) or (..., K, N)",
                   "matmul: inner dims differ: a {} has K = {}, b {} has K = {}", shape_str(a.shape()), K, shape_str(b.shape()),
                   b.size(-2));
  const bool batched = b.dim() > 2;
  if (batched) {
    LMLAB_CHECK(a.dim() == b.dim() && std::equal(a.shape().begin(), a.shape().end() - 2, b.shape().begin()),
                "matmul: batch dims differ: {} vs {}", shape_str(a.shape()), shape_str(b.shape()));
  }
  shape_t out_shape = a.shape();
  out_shape.back() = N;
  tensor out = tensor::empty(out_shape, a.type());
  // Unbatched, a's leading dims fold into rows: one GEMM of R = lead_rows rows.
  const std::size_t nb = batched ? static_cast<std::size_t>(a.dim() - 2) : 0;
  const std::int64_t R = batched ? M : lead_rows(a.shape());
  dispatch_float(a.type(), "matmul", [&]<class T>() {
    tensor ka, kb;
    auto ma = operand_mats<T>(a, nb, ka);
    auto mb = operand_mats<T>(b, nb, kb);
    T* po = out.data<T>();
    for (std::size_t i = 0; i < ma.size(); ++i) mm<T>(ma[i], false, mb[i], false, R, N, K, T(0), po + static_cast<std::int64_t>(i) * R * N, N);
  });
  if (needs_grad({&a, &b})) {
    const bool ga = a.requires_grad(), gb = b.requires_grad();
    record("matmul", out, {a, b}, [a = a.detach(), b = b.detach(), ga, gb, nb, R, N, K](const tensor& g) -> std::vector<tensor> {
      tensor da, db;
      dispatch_float(g.type(), "matmul", [&]<class T>() {
        tensor gc = g.contiguous_raw(), kg, kb, ka;
        auto mg = operand_mats<T>(gc, nb, kg);
        auto mb = operand_mats<T>(b, nb, kb);
        auto ma = gb ? operand_mats<T>(a, nb, ka) : std::vector<mat<T>>{};
        if (ga) da = tensor::empty(a.shape(), a.type());
        if (gb) db = tensor::empty(b.shape(), b.type());
        for (std::size_t i = 0; i < mg.size(); ++i) {  // out = a b, per batch matrix (R rows):
          const auto bi = static_cast<std::int64_t>(i);
          if (ga) mm<T>(mg[i], false, mb[i], true, R, K, N, T(0), da.data<T>() + bi * R * K, K);  // da = g b^T
          if (gb) mm<T>(ma[i], true, mg[i], false, K, N, R, T(0), db.data<T>() + bi * K * N, N);  // db = a^T g
        }
      });
      return {da, db};
    });
  }
  return out;
}

// x (..., in) @ w (out, in)^T + b (out) -> (..., out)
tensor linear(const tensor& x, const tensor& w, const tensor& b) {
  prof::scope timed(prof::cat::gemm);
  check_same_type(x, w, "linear");
  LMLAB_CHECK(w.dim() == 2, "linear: weight must be (out, in), got {}", shape_str(w.shape()));
  LMLAB_CHECK(x.dim() >= 1, "linear: input must have at least 1 dim, got a scalar");
  const std::int64_t in = w.size(1), outf = w.size(0);
  LMLAB_CHECK_HINT(x.size(-1) == in, "x is (..., in) and w is (out, in)",
                   "linear: inner dims differ: x {} has in = {}, w {} has in = {}", shape_str(x.shape()), x.size(-1),
                   shape_str(w.shape()), in);
  if (b.defined()) {
    check_same_type(x, b, "linear");
    LMLAB_CHECK(b.dim() == 1 && b.size(0) == outf, "linear: bias must be ({}), got {}", outf, shape_str(b.shape()));
  }
  shape_t out_shape = x.shape();
  out_shape.back() = outf;
  tensor out = tensor::empty(out_shape, x.type());
  tensor xc = x.contiguous_raw();
  const std::int64_t R = lead_rows(x.shape());
  dispatch_float(x.type(), "linear", [&]<class T>() {
    T* py = out.data<T>();
    T beta = T(0);
    if (b.defined()) {  // y rows start as the bias; the GEMM accumulates onto them (beta = 1)
      tensor bc = b.contiguous_raw();
      const T* pb = bc.data<T>();
#pragma omp parallel for if (R * outf > k_par_grain)
      for (std::int64_t r = 0; r < R; ++r) std::copy(pb, pb + outf, py + r * outf);
      beta = T(1);
    }
    tensor wc = w;
    auto mw = mats_of<T>(wc, 0);
    gemm(false, !mw[0].trans, R, outf, in, T(1), xc.data<T>(), in, mw[0].p, mw[0].ld, beta, py, outf);
  });
  if (needs_grad({&x, &w, &b})) {
    const bool gx = x.requires_grad(), gw = w.requires_grad(), gb = b.defined() && b.requires_grad();
    record("linear", out, {x, w, b},
           [xc = xc.detach(), w = w.detach(), xs = x.shape(), gx, gw, gb, R, in, outf](const tensor& g) -> std::vector<tensor> {
             tensor dx, dw, db;
             tensor gc = g.contiguous_raw();
             dispatch_float(g.type(), "linear", [&]<class T>() {
               const T* pg = gc.data<T>();
               tensor wc = w;
               auto mw = mats_of<T>(wc, 0);
               if (gx) {  // y = x w^T  =>  dx (R, in) = g (R, out) w (out, in)
                 dx = tensor::empty(xs, g.type());
                 gemm(false, mw[0].trans, R, in, outf, T(1), pg, outf, mw[0].p, mw[0].ld, T(0), dx.data<T>(), in);
               }
               if (gw) {  // dw (out, in) = g^T (out, R) x (R, in)
                 dw = tensor::empty(w.shape(), g.type());
                 gemm(true, false, outf, in, R, T(1), pg, outf, xc.data<T>(), in, T(0), dw.data<T>(), in);
               }
               if (gb) db = sum_to_raw(gc.view_raw({R, outf}), {outf});  // db = sum over rows of g
             });
             return {dx, dw, db};
           });
  }
  return out;
}

}  // namespace lmlab
