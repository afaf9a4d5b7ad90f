// Collapse loops on parametric models: each generation fits a model by maximum likelihood to
// data drawn from the previous generation's model (Shumailov et al. 2024, Nature, "AI models
// collapse when trained on recursively generated data"), under a data workflow:
//   replace            generation n trains on M fresh samples of model n-1 (plus a fraction of
//                      real samples when real_fraction > 0)
//   accumulate         generation n trains on the real data and every synthetic batch so far
//                      (Gerstgrasser et al. 2024, arXiv 2404.01413)
//   accumulate_subset  generation n trains on M points drawn without replacement from that
//                      growing pool (Kazdan et al. 2024, arXiv 2410.16713)
// Models: a d-dimensional Gaussian (mean and MLE covariance) and a 1-D Gaussian mixture (EM).
// Many independent chains per run estimate the expectation over resampling.
// Generation 0 is the true distribution; generation 1 is the fit to the real sample.
// Not for: language models (ngram_collapse.hpp), the store (runners.cpp).
#pragma once

#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "core/rng.hpp"

namespace lmlab::datalab {

enum class workflow { replace, accumulate, accumulate_subset };
workflow parse_workflow(const std::string& s);  // error lists the names
const char* workflow_name(workflow w);

struct collapse_schedule {
  int samples = 100;          // M: points per generation
  int generations = 50;
  int chains = 1000;          // independent chains (Monte Carlo over the expectation)
  double temperature = 1.0;   // synthetic sampling: a Gaussian's covariance times T
  workflow flow = workflow::replace;
  double real_fraction = 0;   // replace: this share of the M points comes from the real sample
};

// `k` distinct indices of [0, n) (partial Fisher-Yates).
inline std::vector<std::size_t> choose_indices(std::size_t n, std::size_t k, rng& g) {
  std::vector<std::size_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  for (std::size_t i = 0; i < k; ++i) std::swap(idx[i], idx[i + g.below(n - i)]);
  idx.resize(k);
  return idx;
}

// The training data of generation n >= 2 under the schedule's workflow, from generation n−1's
// synthetic batch of M items. Items are rows of `width` elements in a flat vector (a point of a
// Gaussian, a fixed-length token chunk). `pool` holds the real sample then every synthetic batch
// so far; accumulate workflows append `synth` to it.
template <class E>
std::vector<E> workflow_rows(const collapse_schedule& s, std::size_t width, const std::vector<E>& real,
                             std::vector<E>& pool, std::vector<E> synth, rng& g) {
  const std::size_t m = synth.size() / width;
  if (s.flow == workflow::replace) {
    const std::size_t n_real = static_cast<std::size_t>(std::lround(s.real_fraction * static_cast<double>(m)));
    synth.resize((m - n_real) * width);
    for (std::size_t i : choose_indices(real.size() / width, n_real, g))
      synth.insert(synth.end(), real.begin() + i * width, real.begin() + (i + 1) * width);
    return synth;
  }
  pool.insert(pool.end(), synth.begin(), synth.end());
  if (s.flow == workflow::accumulate) return pool;
  std::vector<E> out;
  for (std::size_t i : choose_indices(pool.size() / width, m, g))
    out.insert(out.end(), pool.begin() + i * width, pool.begin() + (i + 1) * width);
  return out;
}

// Per generation, over chains. var_ratio = tr(Σ_n) / tr(Σ) (mixture: its variance / the true one).
struct generation_stats {
  int generation = 0;
  double var_ratio_mean = 0, var_ratio_se = 0;   // mean over chains and its standard error
  double var_ratio_median = 0;
  double var_law = 0;          // E[var_ratio] predicted (NaN where no closed form applies)
  double log_var_mean = 0;     // mean over chains of log var_ratio
  double log_var_law = 0;      // its prediction (NaN where none)
  double mean_shift = 0;       // mean over chains of |μ_n − μ| / sqrt(tr Σ / d)
  double tail_mass = 0;        // model mass beyond the true 0.5% and 99.5% quantiles (first coordinate); truth 0.01
  double min_weight = 0;       // mixture: mean over chains of the smallest component weight
};

// ---- Gaussians ---------------------------------------------------------------------------

struct gaussian_config {
  int dim = 1;
  collapse_schedule s;
};
// The expected variance ratio at generation n for replace with real_fraction 0:
// ((M−1)/M)^n · T^(n−1). ref: Shumailov et al. 2024, sec. "Theoretical intuition" (Gaussian
// case; E[σ²_n] = σ²((M−1)/M)^n at T = 1): E[Σ̂ | Σ] = (M−1)/M · Σ for the MLE covariance, and
// sampling at temperature T scales the covariance by T.
double gaussian_variance_law(int samples, int generation, double temperature = 1.0);
// E[log σ²_n/σ²] for d = 1, replace, T = 1: n·(ψ((M−1)/2) + log(2/M)), since
// Mσ̂²/σ² ~ χ²_{M−1} and E[log χ²_k] = ψ(k/2) + log 2. Tends to −∞ linearly: almost every
// chain collapses to a point, though the mean variance decays only geometrically.
double gaussian_log_variance_law(int samples, int generation);
double digamma(double x);

std::vector<generation_stats> run_gaussian_collapse(const gaussian_config& c, std::uint64_t seed);

// ---- 1-D Gaussian mixtures ---------------------------------------------------------------

struct mixture {
  std::vector<double> weight, mean, sd;
  double variance() const;
  double cdf(double x) const;
};
// EM fit of K = start.weight.size() components started from `start` (or, when start is empty,
// from k equal quantile chunks of x), `iters` iterations; component sd floored at 1e-3.
mixture fit_mixture(const std::vector<double>& x, const mixture& start, int k, int iters);

struct mixture_config {
  mixture truth = {{0.5, 0.3, 0.2}, {-4.0, 0.0, 5.0}, {1.0, 0.5, 1.5}};
  int em_iters = 30;
  collapse_schedule s;
};
std::vector<generation_stats> run_mixture_collapse(const mixture_config& c, std::uint64_t seed);

}  // namespace lmlab::datalab
