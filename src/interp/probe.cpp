// Logistic probes with a Hewitt & Liang control task: see probe.hpp.
#include "interp/probe.hpp"

#include <lbfgs.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace lmlab::interp {

int logistic_model::predict(const double* x) const {
  int best = 0;
  double top = -INFINITY;
  for (int k = 0; k < classes; ++k) {
    double z = b[static_cast<std::size_t>(k)];
    for (std::size_t d = 0; d < dim; ++d) z += w[static_cast<std::size_t>(k) * dim + d] * x[d];
    if (z > top) top = z, best = k;
  }
  return best;
}

namespace {

struct problem {
  const std::vector<double>* X;  // standardised (N, D)
  std::size_t D;
  const std::vector<int>* y;
  int K;
  double l2;
};

// Mean softmax cross-entropy + l2/2 |W|^2 over parameters [W (K, D), b (K)]; gradient in g.
lbfgsfloatval_t evaluate(void* inst, const lbfgsfloatval_t* p, lbfgsfloatval_t* g, const int n, const lbfgsfloatval_t) {
  const auto& pr = *static_cast<problem*>(inst);
  const std::size_t D = pr.D, K = static_cast<std::size_t>(pr.K), N = pr.y->size();
  std::fill(g, g + n, 0.0);
  std::vector<double> z(K);
  double loss = 0;
  for (std::size_t i = 0; i < N; ++i) {
    const double* x = pr.X->data() + i * D;
    for (std::size_t k = 0; k < K; ++k) {
      double s = p[K * D + k];
      for (std::size_t d = 0; d < D; ++d) s += p[k * D + d] * x[d];
      z[k] = s;
    }
    const double mx = *std::max_element(z.begin(), z.end());
    double den = 0;
    for (auto& v : z) den += (v = std::exp(v - mx));
    const auto yi = static_cast<std::size_t>((*pr.y)[i]);
    loss -= std::log(z[yi] / den);
    for (std::size_t k = 0; k < K; ++k) {
      const double r = z[k] / den - (k == yi ? 1.0 : 0.0);  // dL/dlogit_k
      for (std::size_t d = 0; d < D; ++d) g[k * D + d] += r * x[d];
      g[K * D + k] += r;
    }
  }
  const double inv = 1.0 / static_cast<double>(N);
  for (int j = 0; j < n; ++j) g[j] *= inv;
  loss *= inv;
  for (std::size_t j = 0; j < K * D; ++j) {
    loss += 0.5 * pr.l2 * p[j] * p[j];
    g[j] += pr.l2 * p[j];
  }
  return loss;
}

}  // namespace

logistic_model fit_logistic(const std::vector<double>& X, std::size_t D, const std::vector<int>& y, int classes,
                            const probe_options& opt) {
  const std::size_t N = y.size();
  LMLAB_CHECK(N > 0 && X.size() == N * D, "probe: {} features for {} examples of dimension {}", X.size(), N, D);
  LMLAB_CHECK(classes >= 2, "probe: need at least 2 classes, got {}", classes);
  for (int v : y) LMLAB_CHECK(v >= 0 && v < classes, "probe: label {} outside [0, {})", v, classes);
  // Standardise each feature on these examples (a constant feature keeps scale 1).
  std::vector<double> mu(D, 0.0), sd(D, 0.0), Z(X.size());
  for (std::size_t i = 0; i < N; ++i)
    for (std::size_t d = 0; d < D; ++d) mu[d] += X[i * D + d] / static_cast<double>(N);
  for (std::size_t i = 0; i < N; ++i)
    for (std::size_t d = 0; d < D; ++d) sd[d] += std::pow(X[i * D + d] - mu[d], 2) / static_cast<double>(N);
  for (auto& s : sd) s = s > 1e-24 ? std::sqrt(s) : 1.0;
  for (std::size_t i = 0; i < N; ++i)
    for (std::size_t d = 0; d < D; ++d) Z[i * D + d] = (X[i * D + d] - mu[d]) / sd[d];

  const auto K = static_cast<std::size_t>(classes);
  const int n = static_cast<int>(K * D + K);
  problem pr{&Z, D, &y, classes, opt.l2};
  lbfgs_parameter_t param;
  lbfgs_parameter_init(&param);
  param.max_iterations = opt.max_iterations;
  param.epsilon = 1e-6;
  lbfgsfloatval_t* p = lbfgs_malloc(n);
  std::fill(p, p + n, 0.0);
  lbfgsfloatval_t fx = 0;
  lbfgs(n, p, &fx, evaluate, nullptr, &pr, &param);  // keeps the best point even on a rounding stop
  logistic_model m;
  m.classes = classes;
  m.dim = D;
  m.w.assign(K * D, 0.0);
  m.b.assign(K, 0.0);
  // Back to the original features: w' = w / sd, b' = b - sum w mu / sd.
  for (std::size_t k = 0; k < K; ++k) {
    m.b[k] = p[K * D + k];
    for (std::size_t d = 0; d < D; ++d) {
      m.w[k * D + d] = p[k * D + d] / sd[d];
      m.b[k] -= m.w[k * D + d] * mu[d];
    }
  }
  lbfgs_free(p);
  return m;
}

probe_result probe_with_control(const std::vector<double>& X, std::size_t D, const std::vector<int>& y,
                                const std::vector<std::int64_t>& types, const probe_options& opt) {
  const std::size_t N = y.size();
  LMLAB_CHECK(types.size() == N, "probe: {} types for {} examples", types.size(), N);
  LMLAB_CHECK(N >= 4, "probe: need at least 4 examples, got {}", N);
  const int K = *std::max_element(y.begin(), y.end()) + 1;
  // Split by example.
  std::vector<std::size_t> perm(N);
  std::iota(perm.begin(), perm.end(), std::size_t{0});
  rng r(opt.seed, 1);
  for (std::size_t i = N - 1; i > 0; --i) std::swap(perm[i], perm[r.below(i + 1)]);
  const auto n_test = std::clamp<std::size_t>(static_cast<std::size_t>(std::lround(opt.test_fraction * static_cast<double>(N))), 1, N - 2);
  // Control labels: one draw per type from the empirical label distribution (all examples).
  std::map<std::int64_t, int> control_of;
  rng rc(opt.seed, 2);
  for (std::size_t i = 0; i < N; ++i)
    if (!control_of.contains(types[i])) control_of[types[i]] = y[rc.below(N)];
  std::vector<int> yc(N);
  for (std::size_t i = 0; i < N; ++i) yc[i] = control_of.at(types[i]);

  const auto subset = [&](std::span<const std::size_t> idx, const std::vector<int>& lab, std::vector<double>& xs, std::vector<int>& ys) {
    for (std::size_t i : idx) {
      xs.insert(xs.end(), X.begin() + static_cast<std::ptrdiff_t>(i * D), X.begin() + static_cast<std::ptrdiff_t>((i + 1) * D));
      ys.push_back(lab[i]);
    }
  };
  const std::span<const std::size_t> test_idx(perm.data(), n_test), train_idx(perm.data() + n_test, N - n_test);
  const auto fit_and_score = [&](const std::vector<int>& lab, double* train_acc, std::vector<double>& correct) {
    std::vector<double> xs;
    std::vector<int> ys;
    subset(train_idx, lab, xs, ys);
    const int classes = std::max(2, *std::max_element(lab.begin(), lab.end()) + 1);
    logistic_model m = opt.kind == probe_kind::ridge ? fit_ridge(xs, D, ys, classes, opt) : fit_logistic(xs, D, ys, classes, opt);
    if (train_acc) {
      double c = 0;
      for (std::size_t i = 0; i < ys.size(); ++i) c += m.predict(xs.data() + i * D) == ys[i];
      *train_acc = c / static_cast<double>(ys.size());
    }
    for (std::size_t i : test_idx) correct.push_back(m.predict(X.data() + i * D) == lab[i] ? 1.0 : 0.0);
    return m;
  };
  probe_result res;
  res.n_train = N - n_test;
  res.n_test = n_test;
  res.classes = std::max(2, K);
  std::vector<double> task_ok, control_ok;
  logistic_model m = fit_and_score(y, &res.train_acc, task_ok);
  fit_and_score(yc, nullptr, control_ok);
  analysis::bootstrap_options bo;
  bo.resamples = opt.resamples;
  bo.seed = opt.seed;
  res.task_acc = analysis::bootstrap_ci(task_ok, bo);
  res.control_acc = analysis::bootstrap_ci(control_ok, bo);
  res.selectivity = analysis::paired_bootstrap_ci(task_ok, control_ok, bo);
  res.weights = m.w;
  res.bias = m.b;
  return res;
}

}  // namespace lmlab::interp
