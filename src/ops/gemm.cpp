// GEMM on the CBLAS interface of the BLAS chosen by CMake's LMLAB_BLAS (see gemm.hpp and
// docs/engine.md "Ops and BLAS" for the measurements), plus the naive reference the tests use,
// and thread control for BLAS and OpenMP together.
// Not for: autograd (linalg.cpp), attention's small tiles (attention.cpp has its own loops).
#include "ops/gemm.hpp"

#include <unistd.h>

#include <cblas.h>
#include <dlfcn.h>
#ifdef LMLAB_BLAS_DNNL
#include <dnnl.h>
#endif
#include <omp.h>

#include <climits>
#include <cstdlib>

#include "autograd/profile.hpp"
#include "core/error.hpp"

namespace lmlab {

namespace {

int to_blas_int(std::int64_t v, const char* what) {
  LMLAB_CHECK(v >= 0 && v <= INT_MAX, "gemm: {} = {} does not fit the BLAS's 32-bit integers", what, v);
  return static_cast<int>(v);
}

template <class T>
void scale_c(std::int64_t M, std::int64_t N, T beta, T* C, std::int64_t ldc) {
  for (std::int64_t i = 0; i < M; ++i)
    for (std::int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
}

}  // namespace

// C (M, N) = alpha op(A) (M, K) op(B) (K, N) + beta C
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha, const float* A,
          std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C, std::int64_t ldc) {
  prof::scope timed(prof::cat::gemm);
  if (M == 0 || N == 0) return;
  if (K == 0) return scale_c(M, N, beta, C, ldc);
#ifdef LMLAB_BLAS_DNNL
  // oneDNN has only single precision; it is row-major like this interface.
  const dnnl_status_t st = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  LMLAB_CHECK(st == dnnl_success, "gemm: dnnl_sgemm failed with status {} (M={}, N={}, K={}, lda={}, ldb={}, ldc={})",
              static_cast<int>(st), M, N, K, lda, ldb, ldc);
  return;
#endif
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, to_blas_int(M, "M"),
              to_blas_int(N, "N"), to_blas_int(K, "K"), alpha, A, to_blas_int(lda, "lda"), B, to_blas_int(ldb, "ldb"), beta, C,
              to_blas_int(ldc, "ldc"));
}

void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, double alpha, const double* A,
          std::int64_t lda, const double* B, std::int64_t ldb, double beta, double* C, std::int64_t ldc) {
  prof::scope timed(prof::cat::gemm);
  if (M == 0 || N == 0) return;
  if (K == 0) return scale_c(M, N, beta, C, ldc);
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, to_blas_int(M, "M"),
              to_blas_int(N, "N"), to_blas_int(K, "K"), alpha, A, to_blas_int(lda, "lda"), B, to_blas_int(ldb, "ldb"), beta, C,
              to_blas_int(ldc, "ldc"));
}

template <class T>
void gemm_reference(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha, const T* A,
                    std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C, std::int64_t ldc) {
  for (std::int64_t i = 0; i < M; ++i)
    for (std::int64_t j = 0; j < N; ++j) {
      double acc = 0;
      for (std::int64_t k = 0; k < K; ++k) {
        const double a = trans_a ? A[k * lda + i] : A[i * lda + k];
        const double b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
        acc += a * b;
      }
      const double c = beta == T(0) ? 0.0 : static_cast<double>(beta) * C[i * ldc + j];
      C[i * ldc + j] = static_cast<T>(static_cast<double>(alpha) * acc + c);
    }
}
template void gemm_reference<float>(bool, bool, std::int64_t, std::int64_t, std::int64_t, float, const float*, std::int64_t,
                                    const float*, std::int64_t, float, float*, std::int64_t);
template void gemm_reference<double>(bool, bool, std::int64_t, std::int64_t, std::int64_t, double, const double*, std::int64_t,
                                     const double*, std::int64_t, double, double*, std::int64_t);

const char* blas_name() { return LMLAB_BLAS_NAME; }

}  // namespace lmlab
