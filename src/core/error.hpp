// Errors, two tiers (shared/STYLE.md #6):
//  - lmlab::error for user errors (bad config, corrupt file, bad input): a message that names
//    the op, file, key or field first, plus an optional hint. The CLI catches it once at the
//    top, prints `error: ...` / `hint: ...` and exits 1.
//  - LMLAB_ASSERT for internal invariants: a bug in lmlab, never the user's fault; aborts.
// Not for: recoverable control flow.
#pragma once

#include <fmt/format.h>
#include <stdexcept>
#include <string>

namespace lmlab {

class error : public std::runtime_error {
 public:
  explicit error(std::string message, std::string hint = {})
      : std::runtime_error(std::move(message)), hint_(std::move(hint)) {}
  const std::string& hint() const noexcept { return hint_; }

 private:
  std::string hint_;
};

// A usage error (bad flag combination, unknown verb argument): the CLI exits 2.
class usage_error : public error {
 public:
  using error::error;
};

[[noreturn]] void assert_fail(const char* expr, const char* file, int line, const std::string& msg);

}  // namespace lmlab

// LMLAB_CHECK(cond, "matmul: inner dims differ: {} vs {}", a, b) throws lmlab::error.
#define LMLAB_CHECK(cond, ...)                                       \
  do {                                                               \
    if (!(cond)) [[unlikely]] throw ::lmlab::error(fmt::format(__VA_ARGS__)); \
  } while (0)

// LMLAB_CHECK_HINT(cond, "hint text", "message {}", x) throws lmlab::error with a hint.
#define LMLAB_CHECK_HINT(cond, hint, ...)                                          \
  do {                                                                             \
    if (!(cond)) [[unlikely]] throw ::lmlab::error(fmt::format(__VA_ARGS__), hint); \
  } while (0)

// LMLAB_ASSERT(cond, "why") for internal invariants; aborts with file:line.
#define LMLAB_ASSERT(cond, ...)                                                          \
  do {                                                                                   \
    if (!(cond)) [[unlikely]]                                                            \
      ::lmlab::assert_fail(#cond, __FILE__, __LINE__, fmt::format("" __VA_ARGS__));      \
  } while (0)
