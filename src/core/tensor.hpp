// Tensor: a handle to an n-d array of f32 (training), f64 (gradient checks) or i32 (token ids),
// row-major with PyTorch's dimension order and strides, sharing pooled storage so that views
// (reshape of a contiguous tensor, transpose, narrow, select) are cheap. It also carries the
// autograd slots (grad, grad_fn); the tape itself lives in autograd/.
// Not for: differentiable ops (ops/), the backward engine (autograd/).
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace lmlab {

enum class dtype : std::uint8_t { f32, f64, i32 };

std::size_t dtype_size(dtype t);
const char* dtype_name(dtype t);
template <class T> constexpr dtype dtype_of();
template <> constexpr dtype dtype_of<float>() { return dtype::f32; }
template <> constexpr dtype dtype_of<double>() { return dtype::f64; }
template <> constexpr dtype dtype_of<std::int32_t>() { return dtype::i32; }

using shape_t = std::vector<std::int64_t>;
std::int64_t numel_of(const shape_t& s);
shape_t contiguous_strides(const shape_t& s);
std::string shape_str(const shape_t& s);
// `shape` with its one -1 (if any) inferred from `numel`; errors start with `op` ("view").
// The caller checks that the result holds numel elements.
shape_t infer_shape(const shape_t& shape, std::int64_t numel, const char* op);

// A block of memory from the pool (64-byte aligned). Freed blocks go back to a size-keyed
// free list and are reused by the next allocation of the same size class, so a training loop
// that allocates the same activations every step stops calling malloc after step one.
class storage {
 public:
  static std::shared_ptr<storage> allocate(std::size_t bytes);
  ~storage();
  storage(const storage&) = delete;
  storage& operator=(const storage&) = delete;
  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }

 private:
  storage(void* d, std::size_t b) : data_(d), bytes_(b) {}
  void* data_;
  std::size_t bytes_;
};

struct pool_stats {
  std::size_t allocations = 0;   // calls to storage::allocate
  std::size_t reuses = 0;        // served from the free list
  std::size_t bytes_live = 0;    // in blocks handed out
  std::size_t bytes_cached = 0;  // in free lists
  std::size_t peak_live = 0;     // the most bytes_live has been
  std::size_t released = 0;      // freed blocks returned to the system because the cache was full
};
// The free lists hold at most max(kPoolMinCache, peak_live) bytes: a training step reuses its
// activations every step (they fit under its own peak), while sizes that never recur (a KV
// cache grown token by token) go back to the system instead of piling up.
inline constexpr std::size_t kPoolMinCache = std::size_t{64} << 20;
pool_stats memory_pool_stats();
void memory_pool_release_cached();  // returns every cached block to the system

struct node;  // autograd/autograd.hpp

struct tensor_impl {
  std::shared_ptr<storage> store;
  std::int64_t offset = 0;  // in elements
  shape_t shape;
  shape_t strides;          // in elements
  dtype type = dtype::f32;
  bool requires_grad = false;            // a leaf that wants .grad (parameters)
  bool no_weight_decay = false;          // optimizers never decay it (set by the owning module)
  std::shared_ptr<tensor_impl> grad;     // accumulated gradient of a leaf
  std::shared_ptr<node> grad_fn;         // the op that produced this tensor (non-leaf)
  std::shared_ptr<node> grad_acc;        // accumulator node of a leaf (made on first use)
  std::string name;                      // parameter path, e.g. "blocks.3.attn.w_q"
};

class tensor {
 public:
  tensor() = default;
  explicit tensor(std::shared_ptr<tensor_impl> impl) : impl_(std::move(impl)) {}

  // Creation.
  static tensor empty(const shape_t& shape, dtype t = dtype::f32);
  static tensor zeros(const shape_t& shape, dtype t = dtype::f32);
  static tensor ones(const shape_t& shape, dtype t = dtype::f32);
  static tensor full(const shape_t& shape, double value, dtype t = dtype::f32);
  template <class T>
  static tensor from(const shape_t& shape, std::span<const T> values);
  template <class T>
  static tensor from(const shape_t& shape, std::initializer_list<T> values) {
    return from<T>(shape, std::span<const T>(values.begin(), values.size()));
  }
  static tensor scalar(double v, dtype t = dtype::f32) { return full({}, v, t); }

  bool defined() const { return impl_ != nullptr; }
  const shape_t& shape() const { return impl().shape; }
  const shape_t& strides() const { return impl().strides; }
  std::int64_t dim() const { return static_cast<std::int64_t>(impl().shape.size()); }
  std::int64_t size(std::int64_t d) const;  // negative d counts from the end
  std::int64_t numel() const { return numel_of(impl().shape); }
  dtype type() const { return impl().type; }
  bool is_contiguous() const;
  std::int64_t offset() const { return impl().offset; }

  // Raw element access (no autograd). data<T>() points at element 0 of this view.
  template <class T>
  T* data() const {
    LMLAB_CHECK(dtype_of<T>() == type(), "tensor: data<{}>() on a {} tensor", dtype_name(dtype_of<T>()), dtype_name(type()));
    return static_cast<T*>(impl().store->data()) + impl().offset;
  }
  void* raw_data() const { return static_cast<char*>(impl().store->data()) + impl().offset * dtype_size(type()); }
  double item() const;                               // numel must be 1
  double at(std::initializer_list<std::int64_t> idx) const;  // any dtype, as double
  std::vector<double> to_vector() const;             // row-major copy as doubles
  template <class T>
  std::vector<T> values() const;                     // row-major copy, exact dtype

  // Raw views and copies (no autograd; ops/shape.hpp has the differentiable versions).
  tensor view_raw(const shape_t& shape) const;       // contiguous only; one dim may be -1
  tensor transpose_raw(std::int64_t d0, std::int64_t d1) const;
  tensor narrow_raw(std::int64_t d, std::int64_t start, std::int64_t length) const;
  tensor contiguous_raw() const;                     // this if already contiguous
  tensor clone_raw() const;                          // always a fresh contiguous copy
  tensor to_raw(dtype t) const;                      // converted copy (same dtype: clone)
  tensor detach() const;                             // shares storage, no autograd history
  void copy_from(const tensor& src);                 // same shape; any layouts; converts dtype
  void fill_(double v);
  void zero_() { fill_(0.0); }

  // Autograd slots.
  bool requires_grad() const { return impl().requires_grad || impl().grad_fn != nullptr; }
  tensor& set_requires_grad(bool on);
  tensor grad() const { return tensor(impl().grad); }
  void set_grad(const tensor& g) { impl().grad = g.impl_; }
  const std::string& name() const { return impl().name; }
  tensor& set_name(std::string n);

  tensor_impl& impl() const {
    LMLAB_ASSERT(impl_ != nullptr, "use of an undefined tensor");
    return *impl_;
  }
  const std::shared_ptr<tensor_impl>& impl_ptr() const { return impl_; }
  bool same_storage(const tensor& o) const { return impl().store == o.impl().store; }

 private:
  std::shared_ptr<tensor_impl> impl_;
};

std::ostream& operator<<(std::ostream& os, const tensor& t);

// Calls f.template operator()<T>() with T = float or double for a floating dtype; error otherwise.
template <class F>
decltype(auto) dispatch_float(dtype t, const char* op, F&& f) {
  switch (t) {
    case dtype::f32: return f.template operator()<float>();
    case dtype::f64: return f.template operator()<double>();
    default: throw error(fmt::format("{}: expected a floating tensor (f32 or f64), got {}", op, dtype_name(t)));
  }
}

// Largest |a-b| - (atol + rtol*|b|) violation; `ok` when none. Used by golden tests.
struct compare_result {
  bool ok = true;
  std::int64_t worst_index = -1;
  double worst_a = 0, worst_b = 0, worst_excess = 0, max_abs_diff = 0;
};
compare_result compare(const tensor& a, const tensor& b, double atol, double rtol);

// A tensor over x's storage with this shape, strides and offset (in elements), without
// autograd state: the one way views (view, transpose, narrow, detach, reshape, ...) are made.
tensor strided_view(const tensor& x, shape_t shape, shape_t strides, std::int64_t offset);

}  // namespace lmlab
