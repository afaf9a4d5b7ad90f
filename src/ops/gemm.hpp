// GEMM on the BLAS chosen at build time (-DLMLAB_BLAS=onednn|openblas|openblas-openmp|blis; see docs/engine.md for
// the measurement behind the default). Row-major, PyTorch layouts. Every matmul in lmlab
// goes through here, so swapping the BLAS is one CMake flag.
// Not for: autograd (ops/linalg.hpp wraps this with backward).
#pragma once

#include <cstdint>

#include "core/threads.hpp"  // set_num_threads, num_threads (here before they moved to core)

namespace lmlab {

// C[M,N] = alpha * op(A) * op(B) + beta * C, row-major; op(X) = X or X^T.
// lda/ldb/ldc are row strides of the stored matrices.
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, float alpha, const float* A,
          std::int64_t lda, const float* B, std::int64_t ldb, float beta, float* C, std::int64_t ldc);
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, double alpha, const double* A,
          std::int64_t lda, const double* B, std::int64_t ldb, double beta, double* C, std::int64_t ldc);

// The naive triple loop with the same contract (f64 accumulation); used by tests/ops only.
template <class T>
void gemm_reference(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha, const T* A,
                    std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C, std::int64_t ldc);

const char* blas_name();        // "openblas" or "blis"

}  // namespace lmlab
