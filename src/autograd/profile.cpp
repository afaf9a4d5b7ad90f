// Per-category step timing for the benchmarks: see profile.hpp.
#include "autograd/profile.hpp"

#include <cstring>
#include <mutex>

namespace lmlab::prof {

bool g_enabled = false;

namespace {
std::mutex g_mu;
totals g_totals;
}  // namespace

namespace detail {
thread_local bool t_open = false;
void add(cat c, double seconds) {
  std::lock_guard lock(g_mu);
  g_totals.seconds[static_cast<std::size_t>(c)] += seconds;
  ++g_totals.calls[static_cast<std::size_t>(c)];
}
}  // namespace detail

void enable(bool on) { g_enabled = on; }

totals snapshot() {
  std::lock_guard lock(g_mu);
  return g_totals;
}

void reset() {
  std::lock_guard lock(g_mu);
  g_totals = totals{};
}

const char* cat_name(cat c) {
  switch (c) {
    case cat::gemm: return "gemm";
    case cat::attention: return "attention";
    case cat::scan: return "scan";
    case cat::elementwise: return "norm/elementwise";
    case cat::optimizer: return "optimizer";
    case cat::count: break;
  }
  return "?";
}

cat category_of(const char* op) {
  auto is = [op](const char* s) { return std::strcmp(op, s) == 0; };
  auto starts = [op](const char* s) { return std::strncmp(op, s, std::strlen(s)) == 0; };
  if (is("linear") || is("matmul")) return cat::gemm;
  if (is("attention")) return cat::attention;
  if (starts("selective_scan") || is("causal_conv1d") || is("wkv") || is("rglru") || starts("retention")) return cat::scan;
  return cat::elementwise;
}

}  // namespace lmlab::prof
