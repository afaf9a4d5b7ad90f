// Helpers shared by the training benchmarks (bench/train_bench.cpp, bench/mixer_bench.cpp) for
// the lab's shapes and for an AVX2-capped run (issue 21):
// - where a step's time goes: autograd/profile.hpp's categories as fractions of the timed
//   steps' CPU time on the main thread, plus "framework" = the rest (tape, allocation, shape
//   logic, model glue);
// - the best SGEMM rate of this build at a model's own linear-layer shapes (the "GEMM peak"
//   that MFU is also divided by: at tiny shapes it is far below the nominal peak);
// - the environment that caps every engine at AVX2 (--isa avx2) and the ISA our own kernels
//   were compiled for (-DLMLAB_ARCH, see CMakeLists.txt).
// Not for: the children's process plumbing (bench_common.hpp).
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "autograd/profile.hpp"
#include "bench_common.hpp"
#include "core/cpu.hpp"
#include "core/table.hpp"
#include "ops/gemm.hpp"

namespace lmlab::bench {

// The vector ISA this build's own kernels were compiled for.
inline const char* kernel_isa() {
#if defined(__AVX512F__)
  return "AVX-512";
#elif defined(__AVX2__)
  return "AVX2";
#else
  return "below AVX2";
#endif
}

// Child environment for --isa: "avx2" caps oneDNN (ours and PyTorch's mkldnn), PyTorch's ATen
// kernels and OpenBLAS's kernel choice at AVX2; "native" adds nothing.
inline std::map<std::string, std::string> isa_env(const std::string& isa) {
  if (isa == "native") return {};
  if (isa == "avx2")
    return {{"ONEDNN_MAX_CPU_ISA", "AVX2"}, {"DNNL_MAX_CPU_ISA", "AVX2"}, {"ATEN_CPU_CAPABILITY", "avx2"}, {"OPENBLAS_CORETYPE", "Haswell"}};
  throw lmlab::usage_error("bench: --isa takes native or avx2, not '" + isa + "'");
}

// --isa avx2: the nominal peak becomes AVX2's 32 FLOP/cycle, and a warning says when this build's
// own kernels were compiled for more than AVX2 (then only the BLAS and PyTorch are capped).
inline void apply_isa(const std::string& isa, lmlab::cpu_info& ci, const char* prog) {
  if (isa != "avx2") return;
  ci.flop_per_cycle = 32;
  ci.why = "--isa avx2: 2 FMA pipes x 8 lanes x 2";
  if (std::string(kernel_isa()) != "AVX2")
    std::cerr << prog << ": warning: --isa avx2 caps the BLAS and PyTorch, but this build's own kernels use " << kernel_isa()
              << "; build with -DLMLAB_ARCH=x86-64-v3 for the AVX2 result\n";
}

// The breakdown columns, in the order step_fractions() prints them.
inline std::vector<std::string> breakdown_columns() {
  std::vector<std::string> out;
  for (int c = 0; c < prof::k_cats; ++c) out.push_back(std::string(prof::cat_name(static_cast<prof::cat>(c))) + " %");
  out.push_back("framework %");
  return out;
}

// " f_gemm f_attention ... f_framework" for an OK line: each category's share of `wall` seconds.
inline std::string step_fractions(const prof::totals& t, double wall) {
  std::string out;
  double sum = 0;
  for (int c = 0; c < prof::k_cats; ++c) {
    const double f = t.seconds[static_cast<std::size_t>(c)] / wall;
    sum += f;
    out += " " + std::to_string(f);
  }
  return out + " " + std::to_string(std::max(0.0, 1.0 - sum));
}

// Table cells of the fractions starting at extra[first] (absent: "-").
inline std::vector<cell> breakdown_cells(const child_result& r, std::size_t first) {
  std::vector<cell> out;
  for (std::size_t i = 0; i <= static_cast<std::size_t>(prof::k_cats); ++i) {
    if (r.ok && first + i < r.extra.size()) {
      const double f = r.extra[first + i];
      out.push_back(cell(f, lmlab::format_number(100.0 * f, 3)));
    } else {
      out.push_back(cell("-"));
    }
  }
  return out;
}

// The best GFLOP/s of lmlab::gemm over a model's linear-layer GEMMs at R = batch x T rows and
// width d: forward x W^T of qkv (3d), proj (d), mlp_up (4d), mlp_down, and the backward dY W and
// dY^T X of mlp_up. Each shape runs for at least min_time seconds. per_cpu: the rate per
// process CPU-second times `threads` (what the threads would reach fully busy), which a machine
// loaded by other jobs distorts far less than the wall-clock rate (the default).
inline double best_sgemm_gflops(std::int64_t R, std::int64_t d, double min_time, bool per_cpu = false, int threads = 1) {
  struct shp {
    bool ta, tb;
    std::int64_t M, N, K;
  };
  std::vector<shp> shapes;
  for (std::int64_t out : {3 * d, d, 4 * d}) shapes.push_back({false, true, R, out, d});  // qkv, proj, mlp_up
  shapes.push_back({false, true, R, d, 4 * d});                                            // mlp_down
  shapes.push_back({false, false, R, d, 4 * d});                                           // dX = dY W
  shapes.push_back({true, false, 4 * d, d, R});                                            // dW = dY^T X
  double best = 0;
  for (const auto& s : shapes) {
    const std::int64_t ra = s.ta ? s.K : s.M, ca = s.ta ? s.M : s.K, rb = s.tb ? s.N : s.K, cb = s.tb ? s.K : s.N;
    std::vector<float> A(static_cast<std::size_t>(ra * ca)), B(static_cast<std::size_t>(rb * cb)), C(static_cast<std::size_t>(s.M * s.N));
    for (std::size_t i = 0; i < A.size(); ++i) A[i] = static_cast<float>((i * 7919) % 1000) * 1e-3f - 0.5f;
    for (std::size_t i = 0; i < B.size(); ++i) B[i] = static_cast<float>((i * 104729) % 1000) * 1e-3f - 0.5f;
    auto run = [&] { lmlab::gemm(s.ta, s.tb, s.M, s.N, s.K, 1.0f, A.data(), ca, B.data(), cb, 0.0f, C.data(), s.N); };
    run();
    int reps = 0;
    const double t0 = now(), c0 = cpu_seconds();
    double t1 = t0;
    while (t1 - t0 < min_time || reps < 2) {
      run();
      ++reps;
      t1 = now();
    }
    const double secs = per_cpu ? (cpu_seconds() - c0) / threads : t1 - t0;
    best = std::max(best, 2.0 * static_cast<double>(s.M * s.N) * static_cast<double>(s.K) * reps / secs * 1e-9);
  }
  return best;
}

}  // namespace lmlab::bench
