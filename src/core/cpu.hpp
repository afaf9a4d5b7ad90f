// What this CPU can do, for MFU's nominal peak: the FP32 FLOP per cycle per core its vector
// ISA allows, and the clock the cores actually run at. Used by the trainer's progress line and
// by bench/train_bench, so both divide by the same peak.
// Not for: choosing kernels at run time (the build uses -march=native).
#pragma once

#include <string>

namespace lmlab {

// Nominal FP32 FLOP per cycle per core from the ISA. AVX2+FMA: 2 FMA pipes x 8 lanes x 2 =
// 32. AVX-512 with full-width FMA pipes (Intel server cores, AMD Zen 5 = family 26): 2 x 16 x 2
// = 64. AMD Zen 4 (family 25 with avx512f) executes 512-bit FMAs as two 256-bit halves: 32.
struct cpu_info {
  std::string model;
  int family = 0;
  bool amd = false, avx512f = false, avx2 = false, fma = false;
  double mhz = 0;  // /proc/cpuinfo's "cpu MHz" (in a VM: the base clock)
  double flop_per_cycle = 0;
  std::string why;
};
cpu_info detect_cpu();

// The clock the cores actually run at, in GHz: a chain of dependent integer adds retires one
// per cycle, so cycles = adds; the best of many ~5 ms bursts (a burst that loses its vCPU
// reads low, never high). About 0.2 s.
double measure_ghz();

}  // namespace lmlab
