// Differentiable views and copies (see shape.hpp). Views share storage with their input;
// their backward maps the gradient through the inverse view (transpose, permute) or writes it
// into a zero tensor (narrow). Gradients handed in by the engine are contiguous.
// Not for: arithmetic (elementwise.cpp), reductions (reduce.cpp).
#include "ops/shape.hpp"

#include <algorithm>
#include <numeric>

#include "autograd/autograd.hpp"
#include "autograd/profile.hpp"
#include "ops/internal.hpp"

namespace lmlab {

using namespace detail;

namespace {

tensor reshape_raw(const tensor& g, const shape_t& shape) { return g.contiguous_raw().view_raw(shape); }

// Strides that let a strided tensor (shape, strides) be viewed as `to` without copying, or
// false when its memory layout does not allow it. Dims of `from` are grouped into chunks that
// are contiguous in memory; each chunk must be split or merged exactly by dims of `to`
// (splitting the head dim out of a narrowed (B, T, C) is such a case).
bool view_strides(const shape_t& from, const shape_t& st, const shape_t& to, shape_t& out) {
  if (from.empty() || numel_of(from) == 0) return false;
  out.assign(to.size(), 0);
  std::int64_t view_d = static_cast<std::int64_t>(to.size()) - 1;
  std::int64_t base = st.back(), chunk = 1, view_numel = 1;
  for (std::int64_t d = static_cast<std::int64_t>(from.size()) - 1; d >= 0; --d) {
    const auto du = static_cast<std::size_t>(d);
    chunk *= from[du];
    if (d == 0 || (from[du - 1] != 1 && st[du - 1] != chunk * base)) {
      while (view_d >= 0 && (view_numel < chunk || to[static_cast<std::size_t>(view_d)] == 1)) {
        out[static_cast<std::size_t>(view_d)] = view_numel * base;
        view_numel *= to[static_cast<std::size_t>(view_d)];
        --view_d;
      }
      if (view_numel != chunk) return false;
      if (d > 0) {
        base = st[du - 1];
        chunk = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}

// `shape` with a -1 resolved against numel.
shape_t resolve_shape(const shape_t& shape, std::int64_t numel) {
  const shape_t s = infer_shape(shape, numel, "reshape");
  LMLAB_CHECK(numel_of(s) == numel, "reshape: shape {} does not match {} elements", shape_str(s), numel);
  return s;
}

}  // namespace

// x (S...) -> (shape...), same numel; a view whenever the strides allow (as PyTorch's view)
tensor reshape(const tensor& x, const shape_t& shape) {
  tensor out;
  shape_t st;
  if (x.is_contiguous()) {
    out = x.view_raw(shape);
  } else {
    const shape_t s = resolve_shape(shape, x.numel());
    out = view_strides(x.shape(), x.strides(), s, st) ? strided_view(x, s, st, x.offset()) : x.clone_raw().view_raw(s);
  }
  if (needs_grad({&x})) {
    record("reshape", out, {x}, [s = x.shape()](const tensor& g) -> std::vector<tensor> { return {reshape_raw(g, s)}; });
  }
  return out;
}

// x (.., a, .., b, ..) -> (.., b, .., a, ..), a view
tensor transpose(const tensor& x, std::int64_t d0, std::int64_t d1) {
  tensor out = x.transpose_raw(d0, d1);
  if (needs_grad({&x})) {
    record("transpose", out, {x}, [d0, d1](const tensor& g) -> std::vector<tensor> { return {g.transpose_raw(d0, d1)}; });
  }
  return out;
}

// x (S0, S1, ...) -> (S[dims[0]], S[dims[1]], ...), a view
tensor permute(const tensor& x, const std::vector<std::int64_t>& dims) {
  const std::int64_t n = x.dim();
  LMLAB_CHECK(static_cast<std::int64_t>(dims.size()) == n, "permute: {} dims given for a tensor of {} dims ({})", dims.size(), n,
              shape_str(x.shape()));
  std::vector<std::int64_t> p(dims.size()), inv(dims.size(), -1);
  shape_t shape(dims.size()), strides(dims.size());
  for (std::size_t i = 0; i < dims.size(); ++i) {
    p[i] = norm_dim(dims[i], n, "permute");
    LMLAB_CHECK(inv[static_cast<std::size_t>(p[i])] < 0, "permute: dim {} appears twice", p[i]);
    inv[static_cast<std::size_t>(p[i])] = static_cast<std::int64_t>(i);
    shape[i] = x.shape()[static_cast<std::size_t>(p[i])];
    strides[i] = x.strides()[static_cast<std::size_t>(p[i])];
  }
  tensor out = strided_view(x, shape, strides, x.offset());
  if (needs_grad({&x})) {
    record("permute", out, {x}, [inv](const tensor& g) -> std::vector<tensor> {
      shape_t s(inv.size()), st(inv.size());
      for (std::size_t i = 0; i < inv.size(); ++i) {
        s[i] = g.shape()[static_cast<std::size_t>(inv[i])];
        st[i] = g.strides()[static_cast<std::size_t>(inv[i])];
      }
      return {strided_view(g, s, st, g.offset())};
    });
  }
  return out;
}

// x (S...) -> a contiguous copy (x itself when already contiguous)
tensor contiguous(const tensor& x) {
  prof::scope timed(prof::cat::elementwise);
  if (x.is_contiguous()) return x;
  tensor out = x.clone_raw();
  if (needs_grad({&x})) record("contiguous", out, {x}, [](const tensor& g) -> std::vector<tensor> { return {g}; });
  return out;
}

namespace {

// A part [start, start + length) of dim d of a contiguous (.., S_d, ..) tensor is `outer`
// runs of length * inner elements, one every S_d * inner.
struct part_runs {
  std::int64_t outer = 1, inner = 1, S = 0, start = 0, length = 0;
};

part_runs runs_of(const shape_t& s, std::int64_t d, std::int64_t start, std::int64_t length) {
  part_runs r{1, 1, s[static_cast<std::size_t>(d)], start, length};
  for (std::int64_t i = 0; i < d; ++i) r.outer *= s[static_cast<std::size_t>(i)];
  for (std::size_t i = static_cast<std::size_t>(d) + 1; i < s.size(); ++i) r.inner *= s[i];
  return r;
}

// acc's part += g (add), or acc = g in the part and 0 elsewhere (!add); g is the part, contiguous.
template <class T>
void place_part(const part_runs& r, T* acc, const T* g, bool add) {
  const std::int64_t pre = r.start * r.inner, len = r.length * r.inner, row = r.S * r.inner;
  for (std::int64_t o = 0; o < r.outer; ++o) {
    T* a = acc + o * row;
    const T* go = g + o * len;
    if (add) {
#pragma omp simd
      for (std::int64_t i = 0; i < len; ++i) a[pre + i] += go[i];
    } else {
      std::fill(a, a + pre, T(0));
      std::copy(go, go + len, a + pre);
      std::fill(a + pre + len, a + row, T(0));
    }
  }
}

void place_part(const part_runs& r, tensor& acc, const tensor& g_in, bool add) {
  tensor g = g_in.contiguous_raw();
  dispatch_float(acc.type(), "narrow", [&]<class T>() { place_part<T>(r, acc.data<T>(), g.data<T>(), add); });
}

}  // namespace

// x (.., S_d, ..) -> (.., length, ..), a view of [start, start + length). The backward places
// the gradient into a zero tensor of x's shape; when x's gradient already exists (another
// slice of x was used too) the engine adds into its part instead (node::accumulate_part).
tensor narrow(const tensor& x, std::int64_t dim, std::int64_t start, std::int64_t length) {
  tensor out = x.narrow_raw(dim, start, length);
  if (needs_grad({&x})) {
    const std::int64_t d = norm_dim(dim, x.dim(), "narrow");
    const part_runs r = runs_of(x.shape(), d, start, length);
    const bool floating = x.type() != dtype::i32;
    record("narrow", out, {x}, [s = x.shape(), t = x.type(), dim, start, length, r, floating](const tensor& g) -> std::vector<tensor> {
      if (!floating) {
        tensor gx = tensor::zeros(s, t);
        gx.narrow_raw(dim, start, length).copy_from(g);
        return {gx};
      }
      tensor gx = tensor::empty(s, t);
      place_part(r, gx, g, false);
      return {gx};
    });
    if (floating) out.impl().grad_fn->accumulate_part = [r](tensor& acc, const tensor& g) { place_part(r, acc, g, true); };
  }
  return out;
}

// xs[i] (.., S_i, ..) -> (.., sum S_i, ..)
tensor cat(const std::vector<tensor>& xs, std::int64_t dim) {
  prof::scope timed(prof::cat::elementwise);
  LMLAB_CHECK(!xs.empty(), "cat: no tensors given");
  const tensor& x0 = xs[0];
  const std::int64_t d = norm_dim(dim, x0.dim(), "cat");
  shape_t shape = x0.shape();
  shape[static_cast<std::size_t>(d)] = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const tensor& x = xs[i];
    LMLAB_CHECK(x.type() == x0.type(), "cat: all inputs must have the same dtype (input {} is {}, input 0 is {})", i,
                dtype_name(x.type()), dtype_name(x0.type()));
    LMLAB_CHECK(x.dim() == x0.dim(), "cat: input {} has shape {}, input 0 has {}", i, shape_str(x.shape()), shape_str(x0.shape()));
    for (std::int64_t k = 0; k < x.dim(); ++k)
      LMLAB_CHECK(k == d || x.shape()[static_cast<std::size_t>(k)] == x0.shape()[static_cast<std::size_t>(k)],
                  "cat: input {} has shape {}, input 0 has {} (they may differ only in dim {})", i, shape_str(x.shape()),
                  shape_str(x0.shape()), d);
    shape[static_cast<std::size_t>(d)] += x.shape()[static_cast<std::size_t>(d)];
  }
  tensor out = tensor::empty(shape, x0.type());
  std::vector<std::int64_t> starts;
  std::int64_t at = 0;
  for (const tensor& x : xs) {
    starts.push_back(at);
    const std::int64_t len = x.shape()[static_cast<std::size_t>(d)];
    out.narrow_raw(d, at, len).copy_from(x);
    at += len;
  }
  if (needs_grad(xs)) {
    std::vector<std::int64_t> lens;
    for (const tensor& x : xs) lens.push_back(x.shape()[static_cast<std::size_t>(d)]);
    record("cat", out, xs, [d, starts, lens](const tensor& g) -> std::vector<tensor> {
      std::vector<tensor> gs;
      for (std::size_t i = 0; i < starts.size(); ++i) gs.push_back(g.narrow_raw(d, starts[i], lens[i]));
      return gs;
    });
  }
  return out;
}

// x (S...) -> (S[:dim], 1, S[dim:]), a view
tensor unsqueeze(const tensor& x, std::int64_t dim) {
  const std::int64_t d = norm_dim(dim, x.dim() + 1, "unsqueeze");
  shape_t s = x.shape(), st = x.strides();
  const std::int64_t stride = d < x.dim() ? s[static_cast<std::size_t>(d)] * st[static_cast<std::size_t>(d)] : 1;
  s.insert(s.begin() + d, 1);
  st.insert(st.begin() + d, stride);
  tensor out = strided_view(x, s, st, x.offset());
  if (needs_grad({&x})) {
    record("unsqueeze", out, {x}, [s0 = x.shape()](const tensor& g) -> std::vector<tensor> { return {reshape_raw(g, s0)}; });
  }
  return out;
}

// x (.., 1, ..) -> (.., ..), a view; a dim whose size is not 1 is left alone (as PyTorch)
tensor squeeze(const tensor& x, std::int64_t dim) {
  const std::int64_t d = norm_dim(dim, x.dim(), "squeeze");
  if (x.shape()[static_cast<std::size_t>(d)] != 1) return x;
  shape_t s = x.shape(), st = x.strides();
  s.erase(s.begin() + d);
  st.erase(st.begin() + d);
  tensor out = strided_view(x, s, st, x.offset());
  if (needs_grad({&x})) {
    record("squeeze", out, {x}, [s0 = x.shape()](const tensor& g) -> std::vector<tensor> { return {reshape_raw(g, s0)}; });
  }
  return out;
}

// x (S...) broadcast -> (shape...), a copy; gradient summed back
tensor expand(const tensor& x, const shape_t& shape) {
  tensor out = broadcast_to_raw(x, shape);
  if (needs_grad({&x})) {
    record("expand", out, {x}, [s = x.shape()](const tensor& g) -> std::vector<tensor> { return {sum_to_raw(g, s)}; });
  }
  return out;
}

}  // namespace lmlab
