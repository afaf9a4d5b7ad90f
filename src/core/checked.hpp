// Checked size arithmetic for every size that comes from a file or a flag (a tensor shape, a
// token file's id count, a safetensors offset, a config field): a product or sum that does not
// fit its type is an lmlab::error naming what was being computed, never a wrapped size that
// passes a bounds check and is then allocated or read past.
//   std::size_t bytes = checked_mul(count, width, "tokens.bin: header id count");
// Also the limit on live tensor memory that turns an impossible allocation into a clear error.
// Not for: hot loops over sizes already validated (use plain arithmetic there).
#pragma once

#include <concepts>
#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>

#include "core/error.hpp"

namespace lmlab {

namespace detail {
// r, or the error "<what>: size overflow: a <op> b does not fit in N bits" when `overflowed`.
template <std::integral T>
T checked_result(bool overflowed, T r, T a, char op, T b, std::string_view what) {
  LMLAB_CHECK(!overflowed, "{}: size overflow: {} {} {} does not fit in {} bits", what, a, op, b, sizeof(T) * 8);
  return r;
}
}  // namespace detail

// a * b in T; error "<what>: size overflow: a x b does not fit in N bits".
template <std::integral T>
T checked_mul(T a, T b, std::string_view what) {
  T r;
  const bool overflowed = __builtin_mul_overflow(a, b, &r);
  return detail::checked_result(overflowed, r, a, 'x', b, what);
}

// a + b in T; error "<what>: size overflow: a + b does not fit in N bits".
template <std::integral T>
T checked_add(T a, T b, std::string_view what) {
  T r;
  const bool overflowed = __builtin_add_overflow(a, b, &r);
  return detail::checked_result(overflowed, r, a, '+', b, what);
}

// out = a + b (a * b) in T, deduced from `out`; false when the result does not fit. For checks
// folded into one condition with a message of their own (e.g. a reader naming the byte offset).
template <std::integral T>
[[nodiscard]] bool add_fits(std::type_identity_t<T> a, std::type_identity_t<T> b, T& out) {
  return !__builtin_add_overflow(a, b, &out);
}
template <std::integral T>
[[nodiscard]] bool mul_fits(std::type_identity_t<T> a, std::type_identity_t<T> b, T& out) {
  return !__builtin_mul_overflow(a, b, &out);
}

// v converted to To; error "<what>: v is out of range for N-bit [un]signed" when it does not fit.
template <std::integral To, std::integral From>
To checked_cast(From v, std::string_view what) {
  To r;
  LMLAB_CHECK(!__builtin_add_overflow(v, From{0}, &r), "{}: {} is out of range for a {}-bit {} integer", what, v,
              sizeof(To) * 8, std::is_signed_v<To> ? "signed" : "unsigned");
  return r;
}

// Live tensor memory may not exceed this limit (default: the machine's physical memory, or the
// process's cgroup memory limit when that is lower — a container or a Slurm job): an
// allocation past it is an lmlab::error naming the sizes, instead of a std::bad_alloc or an
// out-of-memory kill halfway through building a model that could never fit. (core/tensor.cpp)
std::size_t tensor_memory_limit();
void set_tensor_memory_limit(std::size_t bytes);  // 0 restores the default
std::string format_bytes(double bytes);            // "1.5 GiB", "512 B"

// The memory limit of the cgroup a process is in, or SIZE_MAX when there is none: `proc_cgroup`
// is the text of /proc/self/cgroup, `root` the cgroup mount (/sys/fs/cgroup). cgroup v2
// (`0::/path`: memory.max of the group and each ancestor) and v1 (`N:memory:/path`:
// memory.limit_in_bytes, likewise) — the smallest limit on the path wins. (core/tensor.cpp)
std::size_t cgroup_memory_limit(std::string_view proc_cgroup, const std::string& root);

}  // namespace lmlab
