// Where a training step's time goes, by kernel category, for the benchmark programs
// (bench/mixer_bench.cpp, bench/train_bench.cpp): GEMM, attention, the recurrent scans,
// norms/elementwise/copies, the optimizer. Kernels open a `prof::scope` of their category; the
// backward engine (autograd.cpp) times each backward closure under the category of its op's
// name. Scopes do not nest: while one is open on a thread, inner ones count nothing, so the
// attention's tile GEMMs count as attention and a linear's backward GEMMs as GEMM. What no
// scope covers (the tape, allocation, shape logic, model glue) is the step's wall time minus
// the sum: "framework overhead".
// Scopes measure the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID), not wall time, so a
// machine loaded by other jobs does not move the breakdown (wall-clock scopes swung attention
// from 10% to 25% of a step between repeats at load 20, issue 21); divide by the same thread's
// CPU time over the timed steps (thread_cpu_seconds()). With OpenMP, other threads' share of a
// kernel is not counted, so fractions are of the main thread's time (exact at 1 thread).
// Off by default: a disabled scope costs one load of a global flag. Main thread only (OpenMP
// workers inside a kernel are covered by their caller's scope).
// Not for: timing in tests (tests never time), per-op detail (use perf; docs/engine.md).
#pragma once

#include <array>
#include <ctime>
#include <cstdint>

namespace lmlab::prof {

enum class cat : int { gemm, attention, scan, elementwise, optimizer, count };
inline constexpr int k_cats = static_cast<int>(cat::count);
const char* cat_name(cat c);

// The category of an op by its autograd name ("linear" -> gemm, "selective_scan" -> scan, ...).
cat category_of(const char* op);

// CPU seconds of the calling thread.
inline double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

extern bool g_enabled;
inline bool enabled() { return g_enabled; }
void enable(bool on);

struct totals {
  std::array<double, k_cats> seconds{};
  std::array<std::int64_t, k_cats> calls{};
};
totals snapshot();
void reset();

namespace detail {
extern thread_local bool t_open;
void add(cat c, double seconds);
}  // namespace detail

class scope {
 public:
  explicit scope(cat c) {
    if (!g_enabled || detail::t_open) return;
    detail::t_open = active_ = true;
    c_ = c;
    t0_ = thread_cpu_seconds();
  }
  ~scope() {
    if (!active_) return;
    detail::t_open = false;
    detail::add(c_, thread_cpu_seconds() - t0_);
  }
  scope(const scope&) = delete;
  scope& operator=(const scope&) = delete;

 private:
  bool active_ = false;
  cat c_ = cat::gemm;
  double t0_ = 0;
};

}  // namespace lmlab::prof
