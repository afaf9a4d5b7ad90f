// CPU detection for the nominal peak: see cpu.hpp.
#include "core/cpu.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>

namespace lmlab {
namespace {
double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
}  // namespace

cpu_info detect_cpu() {
  cpu_info ci;
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  auto value = [&](const std::string& l) {
    const auto c = l.find(':');
    return c == std::string::npos ? std::string() : l.substr(std::min(l.size(), c + 2));
  };
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0 && ci.model.empty()) ci.model = value(line);
    else if (line.rfind("vendor_id", 0) == 0) ci.amd = value(line).find("AMD") != std::string::npos;
    else if (line.rfind("cpu family", 0) == 0) ci.family = std::atoi(value(line).c_str());
    else if (line.rfind("cpu MHz", 0) == 0) ci.mhz = std::max(ci.mhz, std::atof(value(line).c_str()));
    else if (line.rfind("flags", 0) == 0) {
      const std::string f = " " + value(line) + " ";
      ci.avx512f = f.find(" avx512f ") != std::string::npos;
      ci.avx2 = f.find(" avx2 ") != std::string::npos;
      ci.fma = f.find(" fma ") != std::string::npos;
    }
  }
  if (ci.avx512f && !(ci.amd && ci.family < 26)) {
    ci.flop_per_cycle = 64;
    ci.why = "avx512f with full-width 512-bit FMA (2 pipes x 16 FP32 lanes x 2)";
  } else if (ci.avx512f || (ci.avx2 && ci.fma)) {
    ci.flop_per_cycle = 32;
    ci.why = ci.avx512f ? "avx512f on AMD family < 26 (Zen 4 splits 512-bit FMA into two 256-bit halves)"
                        : "AVX2+FMA (2 pipes x 8 FP32 lanes x 2)";
  } else {
    ci.flop_per_cycle = 16;
    ci.why = "no FMA found: 2 x 8-lane AVX add+mul pipes assumed";
  }
  return ci;
}

double measure_ghz() {
  constexpr long iters = 2'000'000;
  double best = 0;
  // A chain of 8 dependent register-register adds per iteration: one cycle each on every x86
  // core. Not `add $1`: Intel's Golden Cove and later fold chains of immediate adds at rename
  // (several per cycle), which read 18.5 GHz on a Sapphire-Rapids-class VM.
  long one = 1;
  for (int rep = 0; rep < 40; ++rep) {
    long x = 0;
    const double t0 = now();
    for (long i = 0; i < iters; ++i) asm volatile("add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\t"
                                                  "add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0"
                                                  : "+r"(x), "+r"(one));
    const double t1 = now();
    best = std::max(best, 8.0 * static_cast<double>(iters) / (t1 - t0) * 1e-9);
  }
  return best;
}

}  // namespace lmlab
