// Tensor storage, pool and raw views: see tensor.hpp.
#include "core/tensor.hpp"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <unordered_map>

#include "core/checked.hpp"
#include "core/enum_names.hpp"
#include "core/split.hpp"

namespace lmlab {

std::size_t dtype_size(dtype t) {
  switch (t) {
    case dtype::f32: return 4;
    case dtype::f64: return 8;
    case dtype::i32: return 4;
  }
  return 0;
}

const char* dtype_name(dtype t) {
  static constexpr enum_name<dtype> names[] = {{dtype::f32, "f32"}, {dtype::f64, "f64"}, {dtype::i32, "i32"}};
  return name_of(names, t);
}

std::int64_t numel_of(const shape_t& s) {
  std::int64_t n = 1;
  for (auto d : s)
    if (__builtin_mul_overflow(n, d, &n)) [[unlikely]]
      throw error(fmt::format("tensor: shape {} has more elements than fit in 64 bits", shape_str(s)));
  return n;
}

shape_t contiguous_strides(const shape_t& s) {
  shape_t st(s.size());
  std::int64_t acc = 1;
  for (std::size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    // A shape with a zero dimension has no elements (numel_of passes it) but its strides are
    // still products of the other dimensions, which may not fit (found by fuzz_safetensors:
    // shape [0, 4222222222222, 4222222222222222]).
    if (i > 0 && __builtin_mul_overflow(acc, s[i], &acc)) [[unlikely]]
      throw error(fmt::format("tensor: shape {} has strides that do not fit in 64 bits", shape_str(s)));
  }
  return st;
}

std::string shape_str(const shape_t& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// ---- pool -------------------------------------------------------------------------------

namespace {

// Size classes: round up to 64 bytes below 4 KiB, to 4 KiB below 1 MiB, else to 64 KiB, so
// that blocks of nearly equal size are shared without wasting more than a few percent.
std::size_t size_class(std::size_t bytes) {
  if (bytes == 0) bytes = 1;
  const std::size_t q = bytes < 4096 ? 64 : bytes < (1u << 20) ? 4096 : 65536;
  return checked_add(bytes, q - 1, "tensor: allocation size") / q * q;
}

std::size_t physical_memory() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<std::size_t>(pages) * static_cast<std::size_t>(page) : SIZE_MAX;
}

// The default limit: physical memory, or the cgroup's limit when lower.
std::size_t default_memory_limit() {
  std::string self;
  if (std::ifstream in("/proc/self/cgroup"); in) self.assign(std::istreambuf_iterator<char>(in), {});
  return std::min(physical_memory(), cgroup_memory_limit(self, "/sys/fs/cgroup"));
}

// A limit file's value: a byte count, or "max" (none). Missing or unreadable: none.
std::size_t read_limit_file(const std::string& path) {
  std::ifstream in(path);
  std::string word;
  if (!(in >> word) || word == "max") return SIZE_MAX;
  std::size_t v = 0;
  const auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), v);
  return ec == std::errc() && end == word.data() + word.size() && v > 0 ? v : SIZE_MAX;
}

// The smallest limit in `file` along `dir` (a cgroup path such as /a/b) and its ancestors.
std::size_t limit_along(const std::string& base, std::string dir, const char* file) {
  std::size_t best = SIZE_MAX;
  while (true) {
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    const std::string at = base + (dir == "/" ? std::string() : dir);
    best = std::min(best, read_limit_file(at + "/" + file));
    if (dir.empty() || dir == "/") break;
    const auto slash = dir.rfind('/');
    dir = slash == 0 || slash == std::string::npos ? std::string("/") : dir.substr(0, slash);
  }
  return best;
}

std::atomic<std::size_t> g_memory_limit{0};  // 0: the default above

struct pool {
  std::mutex mu;
  std::unordered_map<std::size_t, std::vector<void*>> free_lists;
  pool_stats stats;
};

pool& the_pool() {
  static pool* p = new pool();  // never destroyed: storages may die during static destruction
  return *p;
}

// glibc gives the top of its heap back to the system (brk) whenever more than
// M_TRIM_THRESHOLD bytes lie free there, and serves blocks above M_MMAP_THRESHOLD with a fresh
// mmap each time. Scratch that the BLAS and the kernels malloc and free on every call (oneDNN's
// packing buffers, per-call std::vectors) then costs a brk shrink, a brk grow and a page fault
// per page, every call: 12% of a 1-thread training step at the lab's shapes (d_model 64,
// attention; perf: __do_sys_brk -> do_vmi_align_munmap). Keeping freed memory in the process
// removes that (issue 21). A value the user set in the environment (MALLOC_TRIM_THRESHOLD_,
// MALLOC_MMAP_THRESHOLD_) wins.
const bool g_malloc_keeps_memory = [] {
  if (!std::getenv("MALLOC_TRIM_THRESHOLD_")) mallopt(M_TRIM_THRESHOLD, 1 << 30);
  if (!std::getenv("MALLOC_MMAP_THRESHOLD_")) mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's 64-bit maximum
  return true;
}();

}  // namespace

std::size_t cgroup_memory_limit(std::string_view proc_cgroup, const std::string& root) {
  std::size_t best = SIZE_MAX;
  for (const std::string_view line : split_view(proc_cgroup, '\n')) {
    const auto c1 = line.find(':');
    const auto c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) continue;
    const std::string_view hierarchy = line.substr(0, c1), controllers = line.substr(c1 + 1, c2 - c1 - 1);
    const std::string path(line.substr(c2 + 1));
    if (path.empty() || path[0] != '/') continue;
    if (hierarchy == "0" && controllers.empty())  // cgroup v2 (unified; in hybrid mode under root/unified too)
      best = std::min({best, limit_along(root, path, "memory.max"), limit_along(root + "/unified", path, "memory.max")});
    bool memory = false;
    for (const std::string_view c : split_view(controllers, ',')) memory = memory || c == "memory";
    if (memory) best = std::min(best, limit_along(root + "/memory", path, "memory.limit_in_bytes"));  // v1
  }
  // v1 reports "no limit" as a huge page-rounded number (9223372036854771712): treat as none.
  return best >= (std::size_t{1} << 62) ? SIZE_MAX : best;
}

std::size_t tensor_memory_limit() {
  static const std::size_t physical = default_memory_limit();
  const std::size_t l = g_memory_limit.load(std::memory_order_relaxed);
  return l ? l : physical;
}

void set_tensor_memory_limit(std::size_t bytes) { g_memory_limit.store(bytes, std::memory_order_relaxed); }

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  for (; u < 6 && bytes >= 1024; ++u) bytes /= 1024;
  return u == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.3g} {}", bytes, units[u]);
}

std::shared_ptr<storage> storage::allocate(std::size_t bytes) {
  const std::size_t cls = size_class(bytes);
  const std::size_t limit = tensor_memory_limit();
  auto& p = the_pool();
  void* d = nullptr;
  {
    std::lock_guard lock(p.mu);
    if (cls > limit || p.stats.bytes_live > limit - cls) [[unlikely]]
      throw error(fmt::format("tensor: out of memory: a {} tensor on top of {} live exceeds the limit of {}",
                              format_bytes(static_cast<double>(cls)), format_bytes(static_cast<double>(p.stats.bytes_live)),
                              format_bytes(static_cast<double>(limit))),
                  "make the model or the batch smaller (d_model, n_layers, d_mlp, vocab_size, n_ctx, batch_size)");
    ++p.stats.allocations;
    auto it = p.free_lists.find(cls);
    if (it != p.free_lists.end() && !it->second.empty()) {
      d = it->second.back();
      it->second.pop_back();
      ++p.stats.reuses;
      p.stats.bytes_cached -= cls;
    }
    p.stats.bytes_live += cls;
    p.stats.peak_live = std::max(p.stats.peak_live, p.stats.bytes_live);
  }
  if (!d) {
    d = std::aligned_alloc(64, cls);
    if (!d) throw error(fmt::format("tensor: out of memory allocating {} bytes", cls));
  }
  return std::shared_ptr<storage>(new storage(d, cls));
}

storage::~storage() {
  auto& p = the_pool();
  {
    std::lock_guard lock(p.mu);
    p.stats.bytes_live -= bytes_;
    if (p.stats.bytes_cached + bytes_ <= std::max(kPoolMinCache, p.stats.peak_live)) {
      try {  // a destructor must not throw: with no memory left for the free list, free the block
        p.free_lists[bytes_].push_back(data_);
        p.stats.bytes_cached += bytes_;
        return;
      } catch (const std::bad_alloc&) {
      }
    }
    ++p.stats.released;
  }
  std::free(data_);
}

pool_stats memory_pool_stats() {
  auto& p = the_pool();
  std::lock_guard lock(p.mu);
  return p.stats;
}

void memory_pool_release_cached() {
  auto& p = the_pool();
  std::lock_guard lock(p.mu);
  for (auto& [cls, v] : p.free_lists)
    for (void* d : v) std::free(d);
  p.free_lists.clear();
  p.stats.bytes_cached = 0;
}

// ---- creation ---------------------------------------------------------------------------

tensor tensor::empty(const shape_t& shape, dtype t) {
  for (auto d : shape) LMLAB_CHECK(d >= 0, "tensor: negative dimension in shape {}", shape_str(shape));
  auto impl = std::make_shared<tensor_impl>();
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->type = t;
  impl->store =
      storage::allocate(checked_mul(static_cast<std::size_t>(numel_of(shape)), dtype_size(t), "tensor: allocation size"));
  return tensor(std::move(impl));
}

tensor tensor::zeros(const shape_t& shape, dtype t) {
  tensor x = empty(shape, t);
  std::memset(x.raw_data(), 0, static_cast<std::size_t>(x.numel()) * dtype_size(t));
  return x;
}

tensor tensor::ones(const shape_t& shape, dtype t) { return full(shape, 1.0, t); }

tensor tensor::full(const shape_t& shape, double value, dtype t) {
  tensor x = empty(shape, t);
  x.fill_(value);
  return x;
}

template <class T>
tensor tensor::from(const shape_t& shape, std::span<const T> values) {
  LMLAB_CHECK(static_cast<std::int64_t>(values.size()) == numel_of(shape), "tensor::from: {} values for shape {}",
              values.size(), shape_str(shape));
  tensor x = empty(shape, dtype_of<T>());
  std::copy(values.begin(), values.end(), x.data<T>());
  return x;
}
template tensor tensor::from<float>(const shape_t&, std::span<const float>);
template tensor tensor::from<double>(const shape_t&, std::span<const double>);
template tensor tensor::from<std::int32_t>(const shape_t&, std::span<const std::int32_t>);

// ---- queries ----------------------------------------------------------------------------

std::int64_t tensor::size(std::int64_t d) const {
  const std::int64_t n = dim();
  if (d < 0) d += n;
  LMLAB_CHECK(d >= 0 && d < n, "tensor: dim {} out of range for shape {}", d, shape_str(shape()));
  return shape()[static_cast<std::size_t>(d)];
}

bool tensor::is_contiguous() const {
  const auto& s = shape();
  const auto& st = strides();
  std::int64_t acc = 1;
  for (std::size_t i = s.size(); i-- > 0;) {
    if (s[i] != 1 && st[i] != acc) return false;
    acc *= s[i];
  }
  return true;
}

namespace {

// Visits every element of `t` in row-major order with its storage offset (elements).
template <class F>
void for_each_offset(const tensor& t, F&& f) {
  const auto& s = t.shape();
  const auto& st = t.strides();
  const std::int64_t n = t.numel();
  if (n == 0) return;
  if (t.is_contiguous()) {
    for (std::int64_t i = 0; i < n; ++i) f(i, i);
    return;
  }
  std::vector<std::int64_t> idx(s.size(), 0);
  std::int64_t off = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    f(i, off);
    for (std::size_t d = s.size(); d-- > 0;) {
      if (++idx[d] < s[d]) {
        off += st[d];
        break;
      }
      off -= st[d] * (s[d] - 1);
      idx[d] = 0;
    }
  }
}

double load_as_double(const tensor& t, std::int64_t off) {
  switch (t.type()) {
    case dtype::f32: return static_cast<const float*>(t.raw_data())[off];
    case dtype::f64: return static_cast<const double*>(t.raw_data())[off];
    case dtype::i32: return static_cast<const std::int32_t*>(t.raw_data())[off];
  }
  return 0;
}

}  // namespace

double tensor::item() const {
  LMLAB_CHECK(numel() == 1, "tensor::item: tensor has {} elements (shape {})", numel(), shape_str(shape()));
  return load_as_double(*this, 0);
}

double tensor::at(std::initializer_list<std::int64_t> idx) const {
  LMLAB_CHECK(static_cast<std::int64_t>(idx.size()) == dim(), "tensor::at: {} indices for shape {}", idx.size(),
              shape_str(shape()));
  std::int64_t off = 0;
  std::size_t d = 0;
  for (auto i : idx) {
    LMLAB_CHECK(i >= 0 && i < shape()[d], "tensor::at: index {} out of range in dim {} of {}", i, d, shape_str(shape()));
    off += i * strides()[d++];
  }
  return load_as_double(*this, off);
}

std::vector<double> tensor::to_vector() const {
  std::vector<double> out(static_cast<std::size_t>(numel()));
  for_each_offset(*this, [&](std::int64_t i, std::int64_t off) { out[static_cast<std::size_t>(i)] = load_as_double(*this, off); });
  return out;
}

template <class T>
std::vector<T> tensor::values() const {
  std::vector<T> out(static_cast<std::size_t>(numel()));
  const T* p = data<T>();
  for_each_offset(*this, [&](std::int64_t i, std::int64_t off) { out[static_cast<std::size_t>(i)] = p[off]; });
  return out;
}
template std::vector<float> tensor::values<float>() const;
template std::vector<double> tensor::values<double>() const;
template std::vector<std::int32_t> tensor::values<std::int32_t>() const;

// ---- raw views --------------------------------------------------------------------------

shape_t infer_shape(const shape_t& shape, std::int64_t numel, const char* op) {
  shape_t s = shape;
  std::int64_t known = 1, infer = -1;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      LMLAB_CHECK(infer < 0, "{}: more than one -1 in {}", op, shape_str(shape));
      infer = static_cast<std::int64_t>(i);
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0) {
    LMLAB_CHECK(known > 0 && numel % known == 0, "{}: cannot infer -1 in {} for {} elements", op, shape_str(shape), numel);
    s[static_cast<std::size_t>(infer)] = numel / known;
  }
  return s;
}

tensor strided_view(const tensor& x, shape_t shape, shape_t strides, std::int64_t offset) {
  auto v = std::make_shared<tensor_impl>();
  v->store = x.impl().store;
  v->offset = offset;
  v->shape = std::move(shape);
  v->strides = std::move(strides);
  v->type = x.type();
  return tensor(std::move(v));
}

tensor tensor::view_raw(const shape_t& new_shape) const {
  const shape_t s = infer_shape(new_shape, numel(), "view");
  LMLAB_CHECK(numel_of(s) == numel(), "view: shape {} does not match {} elements of {}", shape_str(s), numel(),
              shape_str(shape()));
  LMLAB_CHECK(is_contiguous(), "view: tensor of shape {} is not contiguous", shape_str(shape()));
  return strided_view(*this, s, contiguous_strides(s), offset());
}

tensor tensor::transpose_raw(std::int64_t d0, std::int64_t d1) const {
  const std::int64_t n = dim();
  if (d0 < 0) d0 += n;
  if (d1 < 0) d1 += n;
  LMLAB_CHECK(d0 >= 0 && d0 < n && d1 >= 0 && d1 < n, "transpose: dims ({}, {}) out of range for {}", d0, d1,
              shape_str(shape()));
  shape_t sh = shape(), st = strides();
  std::swap(sh[static_cast<std::size_t>(d0)], sh[static_cast<std::size_t>(d1)]);
  std::swap(st[static_cast<std::size_t>(d0)], st[static_cast<std::size_t>(d1)]);
  return strided_view(*this, std::move(sh), std::move(st), offset());
}

tensor tensor::narrow_raw(std::int64_t d, std::int64_t start, std::int64_t length) const {
  const std::int64_t n = dim();
  if (d < 0) d += n;
  LMLAB_CHECK(d >= 0 && d < n, "narrow: dim {} out of range for {}", d, shape_str(shape()));
  const auto du = static_cast<std::size_t>(d);
  LMLAB_CHECK(start >= 0 && length >= 0 && start + length <= shape()[du], "narrow: [{}, {}) out of range for dim {} of {}",
              start, start + length, d, shape_str(shape()));
  shape_t sh = shape();
  sh[du] = length;
  return strided_view(*this, std::move(sh), strides(), offset() + start * strides()[du]);
}

tensor tensor::contiguous_raw() const {
  if (is_contiguous()) return detach();
  return clone_raw();
}

tensor tensor::clone_raw() const { return to_raw(type()); }

tensor tensor::to_raw(dtype t) const {
  tensor out = empty(shape(), t);
  out.copy_from(*this);
  return out;
}

tensor tensor::detach() const {
  return strided_view(*this, shape(), strides(), offset());
}

void tensor::copy_from(const tensor& src) {
  LMLAB_CHECK(src.shape() == shape(), "copy: shape {} into {}", shape_str(src.shape()), shape_str(shape()));
  if (src.type() == type() && src.is_contiguous() && is_contiguous()) {
    std::memmove(raw_data(), src.raw_data(), static_cast<std::size_t>(numel()) * dtype_size(type()));
    return;
  }
  if (src.type() == type() && numel() > 0 && dim() > 0) {
    // Same dtype, some side strided: copy row by row (last dim innermost), rows in parallel.
    const auto& s = shape();
    const std::int64_t inner = s.back(), rows = numel() / inner;
    const std::int64_t si = src.strides().back(), di = strides().back();
    auto row_off = [&s](std::int64_t r, const shape_t& st) {
      std::int64_t off = 0;
      for (std::size_t d = s.size() - 1; d-- > 0;) {
        off += (r % s[d]) * st[d];
        r /= s[d];
      }
      return off;
    };
    // Rows come in panels of the second-to-last dim (offsets then advance by a stride, with no
    // per-row divisions); a row whose both sides are unit-stride is one memcpy.
    const std::int64_t panel = s.size() >= 2 ? s[s.size() - 2] : 1;
    const std::int64_t sp = s.size() >= 2 ? src.strides()[s.size() - 2] : 0, dp = s.size() >= 2 ? strides()[s.size() - 2] : 0;
    auto copy_rows = [&]<class T>(const T* ps, T* pd) {
#pragma omp parallel for if (numel() > 65536)
      for (std::int64_t r0 = 0; r0 < rows; r0 += panel) {
        const T* a = ps + row_off(r0, src.strides());
        T* b = pd + row_off(r0, strides());
        for (std::int64_t r = 0; r < panel; ++r, a += sp, b += dp) {
          if (si == 1 && di == 1) std::memcpy(b, a, static_cast<std::size_t>(inner) * sizeof(T));
          else
            for (std::int64_t j = 0; j < inner; ++j) b[j * di] = a[j * si];
        }
      }
    };
    switch (type()) {
      case dtype::f32: copy_rows(static_cast<const float*>(src.raw_data()), static_cast<float*>(raw_data())); break;
      case dtype::f64: copy_rows(static_cast<const double*>(src.raw_data()), static_cast<double*>(raw_data())); break;
      case dtype::i32: copy_rows(static_cast<const std::int32_t*>(src.raw_data()), static_cast<std::int32_t*>(raw_data())); break;
    }
    return;
  }
  // General path (dtype conversion): gather src in row-major order, scatter into this view.
  std::vector<double> vals = src.to_vector();
  auto store_from = [&]<class T>(T* p) {
    for_each_offset(*this, [&](std::int64_t i, std::int64_t off) { p[off] = static_cast<T>(vals[static_cast<std::size_t>(i)]); });
  };
  switch (type()) {
    case dtype::f32: store_from(static_cast<float*>(raw_data())); break;
    case dtype::f64: store_from(static_cast<double*>(raw_data())); break;
    case dtype::i32: store_from(static_cast<std::int32_t*>(raw_data())); break;
  }
}

void tensor::fill_(double v) {
  auto fill = [&]<class T>(T* p) {
    for_each_offset(*this, [&](std::int64_t, std::int64_t off) { p[off] = static_cast<T>(v); });
  };
  switch (type()) {
    case dtype::f32: fill(static_cast<float*>(raw_data())); break;
    case dtype::f64: fill(static_cast<double*>(raw_data())); break;
    case dtype::i32: fill(static_cast<std::int32_t*>(raw_data())); break;
  }
}

tensor& tensor::set_requires_grad(bool on) {
  LMLAB_CHECK(!on || type() != dtype::i32, "set_requires_grad: integer tensors cannot require grad");
  LMLAB_CHECK(impl().grad_fn == nullptr, "set_requires_grad: only leaf tensors (not results of ops) can be marked");
  impl().requires_grad = on;
  return *this;
}

tensor& tensor::set_name(std::string n) {
  impl().name = std::move(n);
  return *this;
}

std::ostream& operator<<(std::ostream& os, const tensor& t) {
  if (!t.defined()) return os << "tensor(undefined)";
  os << "tensor(" << dtype_name(t.type()) << shape_str(t.shape()) << ", [";
  auto v = t.to_vector();
  const std::size_t show = std::min<std::size_t>(v.size(), 8);
  for (std::size_t i = 0; i < show; ++i) os << (i ? ", " : "") << v[i];
  if (v.size() > show) os << ", ...";
  return os << "])";
}

compare_result compare(const tensor& a, const tensor& b, double atol, double rtol) {
  LMLAB_CHECK(a.shape() == b.shape(), "compare: shapes differ: {} vs {}", shape_str(a.shape()), shape_str(b.shape()));
  compare_result r;
  auto va = a.to_vector();
  auto vb = b.to_vector();
  for (std::size_t i = 0; i < va.size(); ++i) {
    const double d = std::abs(va[i] - vb[i]);
    r.max_abs_diff = std::max(r.max_abs_diff, std::isnan(d) ? INFINITY : d);
    const double excess = std::isnan(d) ? INFINITY : d - (atol + rtol * std::abs(vb[i]));
    if (excess > 0 && (r.ok || excess > r.worst_excess)) {
      r.ok = false;
      r.worst_excess = excess;
      r.worst_index = static_cast<std::int64_t>(i);
      r.worst_a = va[i];
      r.worst_b = vb[i];
    }
  }
  return r;
}

}  // namespace lmlab
