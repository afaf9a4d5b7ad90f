// The ridge-classifier probe (probe.hpp, fit_ridge): closed-form least squares on one-hot labels.
// Not for: the logistic probe and the control task (probe.cpp).
#include <cmath>

#include "core/error.hpp"
#include "interp/probe.hpp"

namespace lmlab::interp {

probe_kind parse_probe_kind(const std::string& s) {
  if (s == "logistic") return probe_kind::logistic;
  if (s == "ridge") return probe_kind::ridge;
  throw error(fmt::format("probe: kind '{}' is not known", s), "use logistic or ridge");
}

namespace {
// Solves A x = b in place for symmetric positive definite A (n, n), by Cholesky (A = L L^T);
// b holds `cols` right-hand sides as columns of an (n, cols) row-major matrix.
void solve_spd(std::vector<double> A, std::size_t n, std::vector<double>& b, std::size_t cols) {
  for (std::size_t j = 0; j < n; ++j) {
    double d = A[j * n + j];
    for (std::size_t k = 0; k < j; ++k) d -= A[j * n + k] * A[j * n + k];
    LMLAB_CHECK(d > 0, "probe: ridge system not positive definite at {} (raise --l2)", j);
    A[j * n + j] = std::sqrt(d);
    for (std::size_t i = j + 1; i < n; ++i) {
      double s = A[i * n + j];
      for (std::size_t k = 0; k < j; ++k) s -= A[i * n + k] * A[j * n + k];
      A[i * n + j] = s / A[j * n + j];
    }
  }
  for (std::size_t c = 0; c < cols; ++c) {
    for (std::size_t i = 0; i < n; ++i) {  // L y = b
      double s = b[i * cols + c];
      for (std::size_t k = 0; k < i; ++k) s -= A[i * n + k] * b[k * cols + c];
      b[i * cols + c] = s / A[i * n + i];
    }
    for (std::size_t i = n; i-- > 0;) {  // L^T x = y
      double s = b[i * cols + c];
      for (std::size_t k = i + 1; k < n; ++k) s -= A[k * n + i] * b[k * cols + c];
      b[i * cols + c] = s / A[i * n + i];
    }
  }
}
}  // namespace

logistic_model fit_ridge(const std::vector<double>& X, std::size_t D, const std::vector<int>& y, int classes,
                         const probe_options& opt) {
  const std::size_t N = y.size(), K = static_cast<std::size_t>(classes);
  LMLAB_CHECK(N > 0 && X.size() == N * D, "probe: {} features for {} examples of dimension {}", X.size(), N, D);
  LMLAB_CHECK(classes >= 2, "probe: need at least 2 classes, got {}", classes);
  LMLAB_CHECK(opt.l2 > 0, "probe: ridge needs l2 > 0, got {}", opt.l2);
  for (int v : y) LMLAB_CHECK(v >= 0 && v < classes, "probe: label {} outside [0, {})", v, classes);
  const double inv = 1.0 / static_cast<double>(N);
  std::vector<double> mu(D, 0.0), sd(D, 0.0), freq(K, 0.0);
  for (std::size_t i = 0; i < N; ++i) {
    freq[static_cast<std::size_t>(y[i])] += inv;
    for (std::size_t d = 0; d < D; ++d) mu[d] += X[i * D + d] * inv;
  }
  for (std::size_t i = 0; i < N; ++i)
    for (std::size_t d = 0; d < D; ++d) sd[d] += std::pow(X[i * D + d] - mu[d], 2) * inv;
  for (auto& s : sd) s = s > 1e-24 ? std::sqrt(s) : 1.0;
  // Normal equations (Z^T Z / N + l2 I) W = Z^T Y / N, Z the standardised features.
  std::vector<double> A(D * D, 0.0), B(D * K, 0.0), z(D);
  for (std::size_t i = 0; i < N; ++i) {
    for (std::size_t d = 0; d < D; ++d) z[d] = (X[i * D + d] - mu[d]) / sd[d];
    for (std::size_t a = 0; a < D; ++a) {
      for (std::size_t c = 0; c <= a; ++c) A[a * D + c] += z[a] * z[c] * inv;
      B[a * K + static_cast<std::size_t>(y[i])] += z[a] * inv;
    }
  }
  for (std::size_t a = 0; a < D; ++a) {
    for (std::size_t c = 0; c < a; ++c) A[c * D + a] = A[a * D + c];
    A[a * D + a] += opt.l2;
  }
  solve_spd(std::move(A), D, B, K);
  logistic_model m;
  m.classes = classes;
  m.dim = D;
  m.w.assign(K * D, 0.0);
  m.b = freq;
  for (std::size_t k = 0; k < K; ++k)
    for (std::size_t d = 0; d < D; ++d) {
      m.w[k * D + d] = B[d * K + k] / sd[d];
      m.b[k] -= m.w[k * D + d] * mu[d];
    }
  return m;
}

}  // namespace lmlab::interp
