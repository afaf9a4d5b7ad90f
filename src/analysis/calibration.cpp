// Calibration metrics and temperature scaling: see calibration.hpp.
#include "analysis/calibration.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"

namespace lmlab::analysis {

namespace {
void check_logits(std::span<const double> logits, std::size_t k, std::span<const std::int32_t> labels,
                  const char* what) {
  LMLAB_CHECK(k >= 2, "{}: need at least 2 classes, got k={}", what, k);
  LMLAB_CHECK(logits.size() == labels.size() * k, "{}: logits has {} values, expected n*k = {}*{}", what,
              logits.size(), labels.size(), k);
  LMLAB_CHECK(!labels.empty(), "{}: no items", what);
  for (std::size_t i = 0; i < labels.size(); ++i)
    LMLAB_CHECK(labels[i] >= 0 && static_cast<std::size_t>(labels[i]) < k, "{}: label {} of item {} is outside [0, {})",
                what, labels[i], i, k);
}

// Per-row sums needed for the NLL in beta = 1/T and its first two derivatives:
//   f(beta)   = mean_i [ logsumexp_k(beta z_ik) - beta z_iy ]
//   f'(beta)  = mean_i [ E_p[z_i] - z_iy ]
//   f''(beta) = mean_i [ Var_p[z_i] ]  >= 0, so f is convex in beta.
struct nll_derivs {
  double f = 0, df = 0, d2f = 0;
};
nll_derivs nll_in_beta(std::span<const double> logits, std::size_t k, std::span<const std::int32_t> labels, double beta) {
  nll_derivs out;
  const std::size_t n = labels.size();
  for (std::size_t i = 0; i < n; ++i) {
    const double* z = logits.data() + i * k;
    double m = -std::numeric_limits<double>::infinity();
    for (std::size_t j = 0; j < k; ++j) m = std::max(m, beta * z[j]);
    double s = 0, s1 = 0, s2 = 0;
    for (std::size_t j = 0; j < k; ++j) {
      const double e = std::exp(beta * z[j] - m);
      s += e;
      s1 += e * z[j];
      s2 += e * z[j] * z[j];
    }
    const double ez = s1 / s;
    out.f += m + std::log(s) - beta * z[labels[i]];
    out.df += ez - z[labels[i]];
    out.d2f += std::max(0.0, s2 / s - ez * ez);
  }
  out.f /= static_cast<double>(n);
  out.df /= static_cast<double>(n);
  out.d2f /= static_cast<double>(n);
  return out;
}
}  // namespace

ece_result expected_calibration_error(std::span<const double> confidence, const std::vector<bool>& correct,
                                      std::size_t n_bins) {
  LMLAB_CHECK(n_bins >= 1, "expected_calibration_error: n_bins must be >= 1");
  LMLAB_CHECK(confidence.size() == correct.size(), "expected_calibration_error: {} confidences but {} outcomes",
              confidence.size(), correct.size());
  LMLAB_CHECK(!confidence.empty(), "expected_calibration_error: no items");
  ece_result r;
  r.n = confidence.size();
  r.bins.resize(n_bins);
  std::vector<double> sum_conf(n_bins, 0.0), sum_acc(n_bins, 0.0);
  for (std::size_t i = 0; i < confidence.size(); ++i) {
    const double c = confidence[i];
    LMLAB_CHECK(c >= 0 && c <= 1, "expected_calibration_error: confidence {} of item {} is outside [0, 1]", c, i);
    const auto b = std::min(n_bins - 1, static_cast<std::size_t>(c * static_cast<double>(n_bins)));
    ++r.bins[b].count;
    sum_conf[b] += c;
    sum_acc[b] += correct[i] ? 1.0 : 0.0;
  }
  // ref: Guo et al. 2017, "On Calibration of Modern Neural Networks", eq. (3) (ECE) and the
  // maximum calibration error (MCE) below it.
  for (std::size_t b = 0; b < n_bins; ++b) {
    auto& bin = r.bins[b];
    bin.lo = static_cast<double>(b) / static_cast<double>(n_bins);
    bin.hi = static_cast<double>(b + 1) / static_cast<double>(n_bins);
    if (bin.count == 0) continue;
    bin.mean_confidence = sum_conf[b] / static_cast<double>(bin.count);
    bin.accuracy = sum_acc[b] / static_cast<double>(bin.count);
    const double gap = std::fabs(bin.accuracy - bin.mean_confidence);
    r.ece += static_cast<double>(bin.count) / static_cast<double>(r.n) * gap;
    r.mce = std::max(r.mce, gap);
  }
  return r;
}

double brier_score(std::span<const double> prob, const std::vector<bool>& outcome) {
  LMLAB_CHECK(prob.size() == outcome.size(), "brier_score: {} probabilities but {} outcomes", prob.size(),
              outcome.size());
  LMLAB_CHECK(!prob.empty(), "brier_score: no items");
  // ref: Brier 1950, "Verification of forecasts expressed in terms of probability".
  double s = 0;
  for (std::size_t i = 0; i < prob.size(); ++i) {
    const double d = prob[i] - (outcome[i] ? 1.0 : 0.0);
    s += d * d;
  }
  return s / static_cast<double>(prob.size());
}

double brier_score_multiclass(std::span<const double> probs, std::size_t k, std::span<const std::int32_t> labels) {
  check_logits(probs, k, labels, "brier_score_multiclass");
  double s = 0;
  for (std::size_t i = 0; i < labels.size(); ++i)
    for (std::size_t j = 0; j < k; ++j) {
      const double d = probs[i * k + j] - (static_cast<std::size_t>(labels[i]) == j ? 1.0 : 0.0);
      s += d * d;
    }
  return s / static_cast<double>(labels.size());
}

std::vector<double> softmax_rows(std::span<const double> logits, std::size_t k, double temperature) {
  LMLAB_CHECK(k >= 1 && logits.size() % k == 0, "softmax_rows: {} logits is not a multiple of k={}", logits.size(), k);
  LMLAB_CHECK(temperature > 0, "softmax_rows: temperature must be > 0, got {}", temperature);
  std::vector<double> out(logits.size());
  for (std::size_t i = 0; i < logits.size() / k; ++i) {
    const double* z = logits.data() + i * k;
    double* p = out.data() + i * k;
    double m = -std::numeric_limits<double>::infinity();
    for (std::size_t j = 0; j < k; ++j) m = std::max(m, z[j] / temperature);
    double s = 0;
    for (std::size_t j = 0; j < k; ++j) s += (p[j] = std::exp(z[j] / temperature - m));
    for (std::size_t j = 0; j < k; ++j) p[j] /= s;
  }
  return out;
}

double mean_nll(std::span<const double> logits, std::size_t k, std::span<const std::int32_t> labels, double temperature) {
  check_logits(logits, k, labels, "mean_nll");
  LMLAB_CHECK(temperature > 0, "mean_nll: temperature must be > 0, got {}", temperature);
  return nll_in_beta(logits, k, labels, 1.0 / temperature).f;
}

temperature_fit fit_temperature(std::span<const double> logits, std::size_t k, std::span<const std::int32_t> labels) {
  check_logits(logits, k, labels, "fit_temperature");
  // ref: Guo et al. 2017, sec. 4.2 "Temperature scaling": q = max_k softmax(z / T), T fitted by
  // NLL on the validation set. We optimise beta = 1/T, where the NLL is convex (see
  // nll_in_beta), so the root of f'(beta) inside a sign-change bracket is the global minimum.
  constexpr double beta_min = 1e-2, beta_max = 1e2;  // T in [0.01, 100]
  temperature_fit fit;
  fit.nll_before = nll_in_beta(logits, k, labels, 1.0).f;
  double lo = beta_min, hi = beta_max;
  const double d_lo = nll_in_beta(logits, k, labels, lo).df;
  const double d_hi = nll_in_beta(logits, k, labels, hi).df;
  double beta;
  if (d_lo >= 0) {
    beta = lo;  // the NLL rises from the smallest beta: the logits carry (almost) no signal
  } else if (d_hi <= 0) {
    beta = hi;  // still falling at the largest beta: the dev set is (almost) perfectly separated
  } else {
    beta = 1.0;
    for (fit.iterations = 1; fit.iterations <= 200; ++fit.iterations) {
      const nll_derivs d = nll_in_beta(logits, k, labels, beta);
      if (d.df > 0) hi = beta; else lo = beta;
      double next = d.d2f > 0 ? beta - d.df / d.d2f : 0.5 * (lo + hi);
      if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);  // Newton left the bracket: bisect
      const bool done = std::fabs(next - beta) <= 1e-12 * beta || hi - lo <= 1e-12 * beta;
      beta = next;
      if (done) break;
    }
  }
  fit.temperature = 1.0 / beta;
  fit.nll_after = nll_in_beta(logits, k, labels, beta).f;
  return fit;
}

}  // namespace lmlab::analysis
