// Reductions with autograd (see reduce.hpp). Sums go through the shared sum-to kernel
// (ops/internal.hpp: f64 accumulation, per-thread buffers); the backward of a sum broadcasts
// the gradient back to the input's shape.
// Not for: softmax/log-softmax (norm.cpp), losses (loss.cpp).
#include "ops/reduce.hpp"

#include <algorithm>
#include <cmath>

#include "autograd/autograd.hpp"
#include "autograd/profile.hpp"
#include "ops/internal.hpp"

namespace lmlab {

using namespace detail;

namespace {

// x's shape with `dims` set to 1 (keepdim form) and without them (squeezed form).
void reduced_shapes(const tensor& x, const std::vector<std::int64_t>& dims, const char* op, shape_t& keep, shape_t& squeezed) {
  keep = x.shape();
  std::vector<bool> red(keep.size(), false);
  for (auto d : dims) {
    const auto k = static_cast<std::size_t>(norm_dim(d, x.dim(), op));
    LMLAB_CHECK(!red[k], "{}: dim {} given twice", op, d);
    red[k] = true;
    keep[k] = 1;
  }
  squeezed.clear();
  for (std::size_t i = 0; i < keep.size(); ++i)
    if (!red[i]) squeezed.push_back(keep[i]);
}

void scale_inplace(tensor& t, double s) {
  dispatch_float(t.type(), "mean", [&]<class T>() {
    T* p = t.data<T>();
    const T c = static_cast<T>(s);
    for (std::int64_t i = 0; i < t.numel(); ++i) p[i] *= c;
  });
}

// The shared body of sum/mean over dims: out = scale * sum_{dims} x.
tensor sum_scaled(const tensor& x, const shape_t& keep, const shape_t& out_shape, double scale, const char* op) {
  prof::scope timed(prof::cat::elementwise);
  LMLAB_CHECK(x.type() != dtype::i32, "{}: expected a floating tensor (f32 or f64), got i32", op);
  tensor r = sum_to_raw(x, keep);
  if (r.same_storage(x)) r = r.clone_raw();  // nothing was reduced: do not alias x
  if (scale != 1.0) scale_inplace(r, scale);
  tensor out = r.contiguous_raw().view_raw(out_shape);
  if (needs_grad({&x})) {
    record(op, out, {x}, [keep, xs = x.shape(), scale](const tensor& g) -> std::vector<tensor> {
      // out = scale * sum x  =>  dx = scale * g broadcast back over the reduced dims
      tensor gx = broadcast_to_raw(g.contiguous_raw().view_raw(keep), xs);
      if (scale != 1.0) scale_inplace(gx, scale);
      return {gx};
    });
  }
  return out;
}

}  // namespace

// x (S...) -> ()
tensor sum(const tensor& x) { return sum_scaled(x, shape_t(x.shape().size(), 1), {}, 1.0, "sum"); }

// x (S...) -> ()
tensor mean(const tensor& x) {
  LMLAB_CHECK(x.numel() > 0, "mean: empty tensor of shape {}", shape_str(x.shape()));
  return sum_scaled(x, shape_t(x.shape().size(), 1), {}, 1.0 / static_cast<double>(x.numel()), "mean");
}

// x (S...) -> S without `dims` (or with them as 1 when keepdim)
tensor sum(const tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  shape_t keep, sq;
  reduced_shapes(x, dims, "sum", keep, sq);
  return sum_scaled(x, keep, keepdim ? keep : sq, 1.0, "sum");
}

tensor mean(const tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  shape_t keep, sq;
  reduced_shapes(x, dims, "mean", keep, sq);
  const std::int64_t count = numel_of(keep) == 0 ? 0 : x.numel() / numel_of(keep);
  LMLAB_CHECK(count > 0, "mean: reducing over an empty dim of shape {}", shape_str(x.shape()));
  return sum_scaled(x, keep, keepdim ? keep : sq, 1.0 / static_cast<double>(count), "mean");
}

// x (O, N, I) viewed around `dim` -> (O, I); gradient to the first maximum
tensor amax(const tensor& x, std::int64_t dim, bool keepdim) {
  prof::scope timed(prof::cat::elementwise);
  const std::int64_t d = norm_dim(dim, x.dim(), "amax");
  const std::int64_t n = x.shape()[static_cast<std::size_t>(d)];
  LMLAB_CHECK(n > 0, "amax: dim {} of shape {} is empty", dim, shape_str(x.shape()));
  shape_t keep, sq;
  reduced_shapes(x, {d}, "amax", keep, sq);
  tensor xc = x.contiguous_raw();
  std::int64_t outer = 1, inner = 1;
  for (std::int64_t i = 0; i < d; ++i) outer *= x.shape()[static_cast<std::size_t>(i)];
  for (std::int64_t i = d + 1; i < x.dim(); ++i) inner *= x.shape()[static_cast<std::size_t>(i)];
  tensor out = tensor::empty(keepdim ? keep : sq, x.type());
  std::vector<std::int64_t> arg(static_cast<std::size_t>(outer * inner));
  dispatch_float(x.type(), "amax", [&]<class T>() {
    const T* px = xc.data<T>();
    T* po = out.data<T>();
    for (std::int64_t o = 0; o < outer; ++o)
      for (std::int64_t i = 0; i < inner; ++i) {
        const T* p = px + o * n * inner + i;
        std::int64_t best = 0;
        for (std::int64_t k = 1; k < n; ++k)
          if (p[k * inner] > p[best * inner] || (std::isnan(p[k * inner]) && !std::isnan(p[best * inner]))) best = k;
        po[o * inner + i] = p[best * inner];
        arg[static_cast<std::size_t>(o * inner + i)] = best;
      }
  });
  if (needs_grad({&x})) {
    record("amax", out, {x}, [arg = std::move(arg), xs = x.shape(), outer, n, inner](const tensor& g) -> std::vector<tensor> {
      // out[o, i] = x[o, arg, i]  =>  dx[o, arg, i] = g[o, i], zero elsewhere
      tensor gx = tensor::zeros(xs, g.type());
      dispatch_float(g.type(), "amax", [&]<class T>() {
        tensor gc = g.contiguous_raw();
        const T* pg = gc.data<T>();
        T* px = gx.data<T>();
        for (std::int64_t o = 0; o < outer; ++o)
          for (std::int64_t i = 0; i < inner; ++i)
            px[(o * n + arg[static_cast<std::size_t>(o * inner + i)]) * inner + i] = pg[o * inner + i];
      });
      return {gx};
    });
  }
  return out;
}

}  // namespace lmlab
