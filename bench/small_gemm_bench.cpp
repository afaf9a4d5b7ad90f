// small_gemm_bench: single-thread SGEMM rate of oneDNN (dnnl_sgemm, lmlab's default GEMM),
// OpenBLAS (cblas_sgemm) and libxsmm (JIT small-matrix kernels, Debian libxsmm-dev 1.17) at the
// lab's linear-layer and attention-tile shapes, all three in one process and interleaved per
// shape, so that a loaded machine hits them alike (issue 21: "is oneDNN or OpenBLAS or libxsmm
// fastest per shape?"). Rates are FLOPs per CPU-second (CLOCK_PROCESS_CPUTIME_ID), not per wall
// second. libxsmm 1.17 is column-major without a transposed-A kernel: a row-major x W^T
// (forward) runs as its W^T packed once per call (the time includes the packing), which is
// what lmlab would have to do. Set ONEDNN_MAX_CPU_ISA=AVX2, OPENBLAS_CORETYPE=Haswell and
// LIBXSMM_TARGET=hsw to cap all three at AVX2.
// Not for: multi-thread rates or the GPT configs (gemm_bench), lmlab's own GEMM path (ops/gemm.cpp).
//
// Usage: small_gemm_bench [--min-flop 2e9] [-o text|md|csv|json|jsonl]
#include <cblas.h>
#include <dnnl.h>
#include <libxsmm.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/table.hpp"

namespace {

struct shape {
  const char* what;
  char ta, tb;  // row-major op(A), op(B)
  int M, N, K;
};

// Rows = batch x T of the quick experiments (32 x 32, 64 x 17), widths d_model 64 and 128.
const shape k_shapes[] = {
    {"x W^T, d 64 -> 64 (1024 rows)", 'N', 'T', 1024, 64, 64},
    {"x W^T, d 64 -> 256", 'N', 'T', 1024, 256, 64},
    {"x W^T, d 256 -> 64", 'N', 'T', 1024, 64, 256},
    {"dY W, 256 -> 64", 'N', 'N', 1024, 64, 256},
    {"dY W, 64 -> 256", 'N', 'N', 1024, 256, 64},
    {"dY^T X, 256 x 64", 'T', 'N', 256, 64, 1024},
    {"dY^T X, 64 x 256", 'T', 'N', 64, 256, 1024},
    {"dY^T X, 64 x 64", 'T', 'N', 64, 64, 1024},
    {"x W^T, d 128 -> 512", 'N', 'T', 1024, 512, 128},
    {"x W^T, d 512 -> 128", 'N', 'T', 1024, 128, 512},
    {"dY^T X, 512 x 128", 'T', 'N', 512, 128, 1024},
    {"x W^T, d 64 -> 192 (1088 rows)", 'N', 'T', 1088, 192, 64},
    {"Mamba x_proj, 128 -> 36", 'N', 'T', 1024, 36, 128},
    {"attention tile Q K^T, 32 x 32 x 32", 'N', 'T', 32, 32, 32},
    {"attention tile P V, 32 x 16 x 32", 'N', 'N', 32, 16, 32},
    {"attention tile Q K^T, 17 x 17 x 16", 'N', 'T', 17, 17, 16},
};

double cpu_now() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// GFLOP per CPU-second of f() doing `flop` FLOPs, over about min_flop FLOPs after one warm-up call.
template <class F>
double rate(double flop, double min_flop, F&& f) {
  f();
  const int reps = std::max(20, static_cast<int>(min_flop / flop));
  const double t0 = cpu_now();
  for (int i = 0; i < reps; ++i) f();
  return flop * reps / std::max(cpu_now() - t0, 1e-9) * 1e-9;
}

}  // namespace

int main(int argc, char** argv) try {
  double min_flop = 2e9;
  lmlab::table_format fmt = lmlab::table_format::text;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    LMLAB_CHECK(i + 1 < argc, "small_gemm_bench: {} needs a value", a);
    if (a == "--min-flop") min_flop = std::stod(argv[++i]);
    else if (a == "-o") fmt = lmlab::parse_table_format(argv[++i]);
    else throw lmlab::error("small_gemm_bench: unknown argument '" + a + "' (see the usage in bench/small_gemm_bench.cpp)");
  }
  libxsmm_init();
  lmlab::table tab({"shape", "op", "M", "N", "K", "oneDNN GFLOP/s", "OpenBLAS GFLOP/s", "libxsmm GFLOP/s", "best"});
  for (const auto& s : k_shapes) {
    const int lda = s.ta == 'N' ? s.K : s.M, ldb = s.tb == 'N' ? s.N : s.K, ldc = s.N;
    std::vector<float> A(static_cast<std::size_t>(s.M) * s.K, 0.5f), B(static_cast<std::size_t>(s.K) * s.N, 0.25f);
    std::vector<float> C(static_cast<std::size_t>(s.M) * s.N), Bt(B.size());
    const double flop = 2.0 * s.M * s.N * s.K;
    const double dnnl = rate(flop, min_flop, [&] {
      dnnl_sgemm(s.ta, s.tb, s.M, s.N, s.K, 1.f, A.data(), lda, B.data(), ldb, 0.f, C.data(), ldc);
    });
    const double oblas = rate(flop, min_flop, [&] {
      cblas_sgemm(CblasRowMajor, s.ta == 'N' ? CblasNoTrans : CblasTrans, s.tb == 'N' ? CblasNoTrans : CblasTrans, s.M, s.N, s.K,
                  1.f, A.data(), lda, B.data(), ldb, 0.f, C.data(), ldc);
    });
    // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: libxsmm's A is our B.
    const int xflags = s.ta == 'T' ? LIBXSMM_GEMM_FLAG_TRANS_B : 0;
    const libxsmm_blasint m = s.N, n = s.M, k = s.K, xlda = s.N, xldb = lda, xldc = ldc;
    const float alpha = 1, beta = 0;
    const libxsmm_smmfunction kern = libxsmm_smmdispatch(m, n, k, &xlda, &xldb, &xldc, &alpha, &beta, &xflags, nullptr);
    double xsmm = 0;
    if (kern)
      xsmm = rate(flop, min_flop, [&] {
        const float* b = B.data();
        if (s.tb == 'T') {  // B is (N x K) row-major: pack B^T (K x N) for the kernel
          for (int kk = 0; kk < s.K; ++kk)
            for (int j = 0; j < s.N; ++j) Bt[static_cast<std::size_t>(kk) * s.N + j] = B[static_cast<std::size_t>(j) * s.K + kk];
          b = Bt.data();
        }
        kern(b, A.data(), C.data());
      });
    const char* best = xsmm > std::max(dnnl, oblas) ? "libxsmm" : dnnl >= oblas ? "oneDNN" : "OpenBLAS";
    tab.add_row({s.what, std::string{s.ta, s.tb}, s.M, s.N, s.K, lmlab::cell(dnnl, lmlab::format_number(dnnl, 3)),
                 lmlab::cell(oblas, lmlab::format_number(oblas, 3)), kern ? lmlab::cell(xsmm, lmlab::format_number(xsmm, 3)) : lmlab::cell("-"),
                 best});
  }
  tab.print(std::cout, fmt);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
