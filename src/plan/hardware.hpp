// The accelerator catalog (data/plan/hardware.json: dense BF16 peak, memory, HBM and network
// bandwidths, each entry with its source) plus `this-cpu`, whose FP32 peak is measured here by a
// built-in SGEMM benchmark (cblas_sgemm) next to the theoretical cores × 32 FLOP/cycle × clock.
// Not for: profiling real kernels (bench/ does that).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace lmlab::plan {

struct hardware {
  std::string name, source;
  double peak_flops = 0;        // dense, per device
  double theoretical_flops = 0; // this-cpu: cores × 32 × GHz; else = peak_flops
  double memory_bytes = 0, hbm_bw = 0;
  double intra_bw = 0, inter_bw = 0;  // bytes/s per device, one direction
  double intra_latency = 5e-6, inter_latency = 10e-6;  // alpha of the alpha-beta model, seconds
  int intra_size = 8;                  // devices per fast domain (node)
  double price_per_hour = 0;
};

std::vector<std::string> hardware_names();
// A catalog name or "this-cpu" (runs the SGEMM benchmark once per process); unknown names list
// the known ones.
hardware find_hardware(std::string_view name);
// Measured SGEMM FLOP/s of this machine (square n×n, best of a few runs), all threads.
double measure_sgemm_flops(int n = 1024, int repeats = 3);
double theoretical_cpu_flops();

}  // namespace lmlab::plan
