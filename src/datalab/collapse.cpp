// Collapse loops on Gaussians and Gaussian mixtures: see collapse.hpp.
#include "datalab/collapse.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "analysis/stats.hpp"
#include "core/enum_names.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"

namespace lmlab::datalab {

namespace {
constexpr enum_name<workflow> k_workflows[] = {
    {workflow::replace, "replace"}, {workflow::accumulate, "accumulate"}, {workflow::accumulate_subset, "accumulate_subset"}};
}  // namespace

workflow parse_workflow(const std::string& s) {
  if (const auto w = value_named(k_workflows, s)) return *w;
  throw lmlab::error(fmt::format("collapse: unknown workflow '{}'", s), "workflows: replace, accumulate, accumulate_subset");
}

const char* workflow_name(workflow w) { return name_of(k_workflows, w); }

double gaussian_variance_law(int samples, int generation, double temperature) {
  if (generation <= 0) return 1.0;
  const double m = samples;
  return std::pow((m - 1) / m, generation) * std::pow(temperature, generation - 1);
}

double digamma(double x) {
  LMLAB_CHECK(x > 0, "digamma: x must be > 0, got {}", x);
  double r = 0;
  while (x < 10) r -= 1 / x, x += 1;
  // ref: Abramowitz & Stegun 6.3.18, asymptotic series.
  const double f = 1 / (x * x);
  return r + std::log(x) - 0.5 / x - f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f / 132))));
}

double gaussian_log_variance_law(int samples, int generation) {
  const double m = samples;
  return generation * (digamma((m - 1) / 2) + std::log(2 / m));
}

namespace {

void check_schedule(const collapse_schedule& s) {
  LMLAB_CHECK(s.samples >= 2, "collapse: samples must be >= 2, got {}", s.samples);
  LMLAB_CHECK(s.generations >= 1 && s.chains >= 1, "collapse: generations and chains must be >= 1");
  LMLAB_CHECK(s.temperature > 0, "collapse: temperature must be > 0, got {}", s.temperature);
  LMLAB_CHECK(s.real_fraction >= 0 && s.real_fraction <= 1, "collapse: real_fraction must be in [0, 1], got {}",
              s.real_fraction);
}

struct gaussian_fit {
  std::vector<double> mu, cov;  // cov d×d row-major
};

gaussian_fit fit_gaussian(const std::vector<double>& x, int d) {
  const std::size_t D = static_cast<std::size_t>(d), n = x.size() / D;
  gaussian_fit f{std::vector<double>(D, 0.0), std::vector<double>(D * D, 0.0)};
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t a = 0; a < D; ++a) f.mu[a] += x[i * D + a] / static_cast<double>(n);
  // MLE covariance: divisor n, not n − 1.
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t a = 0; a < D; ++a)
      for (std::size_t b = 0; b < D; ++b)
        f.cov[a * D + b] += (x[i * D + a] - f.mu[a]) * (x[i * D + b] - f.mu[b]) / static_cast<double>(n);
  return f;
}

// Lower Cholesky factor of an SPD matrix; a non-positive pivot (a collapsed direction) gives 0.
std::vector<double> cholesky(const std::vector<double>& a, int d) {
  const std::size_t D = static_cast<std::size_t>(d);
  std::vector<double> l(D * D, 0.0);
  for (std::size_t j = 0; j < D; ++j) {
    double s = a[j * D + j];
    for (std::size_t k = 0; k < j; ++k) s -= l[j * D + k] * l[j * D + k];
    l[j * D + j] = s > 0 ? std::sqrt(s) : 0.0;
    for (std::size_t i = j + 1; i < D; ++i) {
      double t = a[i * D + j];
      for (std::size_t k = 0; k < j; ++k) t -= l[i * D + k] * l[j * D + k];
      l[i * D + j] = l[j * D + j] > 0 ? t / l[j * D + j] : 0.0;
    }
  }
  return l;
}

// n rows drawn from N(mu, scale² · L Lᵀ).
std::vector<double> sample_gaussian(const std::vector<double>& mu, const std::vector<double>& l, int d, int n,
                                    double scale, rng& g) {
  const std::size_t D = static_cast<std::size_t>(d);
  std::vector<double> out(static_cast<std::size_t>(n) * D), z(D);
  for (int i = 0; i < n; ++i) {
    for (auto& v : z) v = g.normal();
    for (std::size_t a = 0; a < D; ++a) {
      double v = mu[a];
      for (std::size_t b = 0; b <= a; ++b) v += scale * l[a * D + b] * z[b];
      out[static_cast<std::size_t>(i) * D + a] = v;
    }
  }
  return out;
}

double trace(const std::vector<double>& a, int d) {
  double t = 0;
  for (int i = 0; i < d; ++i) t += a[static_cast<std::size_t>(i * d + i)];
  return t;
}

// Mass of N(mu, sd²) outside [lo, hi].
double normal_outside(double mu, double sd, double lo, double hi) {
  if (sd <= 0) return (mu < lo || mu > hi) ? 1.0 : 0.0;
  return analysis::normal_cdf((lo - mu) / sd) + 1 - analysis::normal_cdf((hi - mu) / sd);
}

// Per-chain values [generation-1][chain] summarised into generation_stats.
struct chain_table {
  std::vector<std::vector<double>> var, shift, tail, minw;
  chain_table(int gens, int chains)
      : var(gens, std::vector<double>(chains)), shift(var), tail(var), minw(var) {}
};

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::vector<generation_stats> summarise(const chain_table& t) {
  std::vector<generation_stats> out;
  for (std::size_t g = 0; g < t.var.size(); ++g) {
    generation_stats s;
    s.generation = static_cast<int>(g) + 1;
    const auto sm = analysis::summarize(t.var[g]);
    s.var_ratio_mean = sm.mean;
    s.var_ratio_se = sm.std_error;
    s.var_ratio_median = median_of(t.var[g]);
    double lg = 0;
    for (double v : t.var[g]) lg += std::log(std::max(v, 1e-300));
    s.log_var_mean = lg / static_cast<double>(t.var[g].size());
    s.mean_shift = analysis::summarize(t.shift[g]).mean;
    s.tail_mass = analysis::summarize(t.tail[g]).mean;
    s.min_weight = analysis::summarize(t.minw[g]).mean;
    s.var_law = s.log_var_law = NAN;
    out.push_back(s);
  }
  return out;
}

}  // namespace

// ---- Gaussians ---------------------------------------------------------------------------

std::vector<generation_stats> run_gaussian_collapse(const gaussian_config& c, std::uint64_t seed) {
  check_schedule(c.s);
  LMLAB_CHECK(c.dim >= 1 && c.dim <= 64, "collapse: dim must be in [1, 64], got {}", c.dim);
  const int d = c.dim;
  const std::size_t D = static_cast<std::size_t>(d);
  // The true covariance: L Lᵀ with 1 on L's diagonal and 0.5 below it (correlated coordinates).
  std::vector<double> l_true(D * D, 0.0), mu_true(D, 0.0);
  for (std::size_t i = 0; i < D; ++i)
    for (std::size_t j = 0; j <= i; ++j) l_true[i * D + j] = i == j ? 1.0 : 0.5;
  const double tr_true = static_cast<double>(d) + 0.25 * d * (d - 1) / 2.0;
  const double sd0 = 1.0;  // Σ_00 = 1
  const double q = analysis::normal_quantile(0.995) * sd0;
  chain_table t(c.s.generations, c.s.chains);
  for (int ch = 0; ch < c.s.chains; ++ch) {
    rng g(seed, static_cast<std::uint64_t>(ch));
    const auto real = sample_gaussian(mu_true, l_true, d, c.s.samples, 1.0, g);
    std::vector<double> pool = real;
    gaussian_fit f = fit_gaussian(real, d);
    for (int gen = 1; gen <= c.s.generations; ++gen) {
      if (gen > 1) {
        auto synth = sample_gaussian(f.mu, cholesky(f.cov, d), d, c.s.samples, std::sqrt(c.s.temperature), g);
        f = fit_gaussian(workflow_rows(c.s, D, real, pool, std::move(synth), g), d);
      }
      const std::size_t gi = static_cast<std::size_t>(gen - 1), ci = static_cast<std::size_t>(ch);
      t.var[gi][ci] = trace(f.cov, d) / tr_true;
      double sh = 0;
      for (double m : f.mu) sh += m * m;
      t.shift[gi][ci] = std::sqrt(sh) / std::sqrt(tr_true / d);
      t.tail[gi][ci] = normal_outside(f.mu[0], std::sqrt(f.cov[0]), -q, q);
    }
  }
  auto out = summarise(t);
  const bool law = c.s.flow == workflow::replace && c.s.real_fraction == 0;
  for (auto& s : out) {
    if (law) s.var_law = gaussian_variance_law(c.s.samples, s.generation, c.s.temperature);
    if (law && d == 1 && c.s.temperature == 1) s.log_var_law = gaussian_log_variance_law(c.s.samples, s.generation);
  }
  return out;
}

// ---- 1-D Gaussian mixtures ---------------------------------------------------------------

double mixture::variance() const {
  double m = 0, m2 = 0;
  for (std::size_t k = 0; k < weight.size(); ++k) {
    m += weight[k] * mean[k];
    m2 += weight[k] * (sd[k] * sd[k] + mean[k] * mean[k]);
  }
  return m2 - m * m;
}

double mixture::cdf(double x) const {
  double p = 0;
  for (std::size_t k = 0; k < weight.size(); ++k) p += weight[k] * analysis::normal_cdf((x - mean[k]) / sd[k]);
  return p;
}

namespace {
mixture quantile_start(std::vector<double> x, int k) {
  std::sort(x.begin(), x.end());
  mixture m;
  const std::size_t n = x.size();
  for (int j = 0; j < k; ++j) {
    const std::size_t a = n * static_cast<std::size_t>(j) / static_cast<std::size_t>(k);
    const std::size_t b = std::max(a + 1, n * static_cast<std::size_t>(j + 1) / static_cast<std::size_t>(k));
    std::vector<double> part(x.begin() + static_cast<std::ptrdiff_t>(a), x.begin() + static_cast<std::ptrdiff_t>(b));
    const auto s = analysis::summarize(part);
    m.weight.push_back(static_cast<double>(b - a) / static_cast<double>(n));
    m.mean.push_back(s.mean);
    m.sd.push_back(std::max(s.stddev, 1e-3));
  }
  return m;
}

double quantile_of(const mixture& m, double p) {
  double lo = -1e3, hi = 1e3;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    (m.cdf(mid) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

std::vector<double> sample_mixture(const mixture& m, int n, double temperature, rng& g) {
  std::vector<double> out;
  for (int i = 0; i < n; ++i) {
    double u = g.uniform();
    std::size_t k = 0;
    while (k + 1 < m.weight.size() && u >= m.weight[k]) u -= m.weight[k++];
    out.push_back(m.mean[k] + std::sqrt(temperature) * m.sd[k] * g.normal());
  }
  return out;
}
}  // namespace

mixture fit_mixture(const std::vector<double>& x, const mixture& start, int k, int iters) {
  LMLAB_CHECK(x.size() >= static_cast<std::size_t>(k) && k >= 1, "mixture: {} points cannot fit {} components", x.size(), k);
  mixture m = start.weight.empty() ? quantile_start(x, k) : start;
  const std::size_t K = m.weight.size(), n = x.size();
  std::vector<double> r(n * K);
  for (int it = 0; it < iters; ++it) {
    // E step, in logs so that a far point does not underflow every component.
    for (std::size_t i = 0; i < n; ++i) {
      double mx = -INFINITY;
      for (std::size_t j = 0; j < K; ++j) {
        const double z = (x[i] - m.mean[j]) / m.sd[j];
        r[i * K + j] = m.weight[j] > 0 ? std::log(m.weight[j]) - std::log(m.sd[j]) - 0.5 * z * z : -INFINITY;
        mx = std::max(mx, r[i * K + j]);
      }
      double s = 0;
      for (std::size_t j = 0; j < K; ++j) s += (r[i * K + j] = std::exp(r[i * K + j] - mx));
      for (std::size_t j = 0; j < K; ++j) r[i * K + j] /= s;
    }
    // M step (maximum likelihood).
    for (std::size_t j = 0; j < K; ++j) {
      double nk = 0, sx = 0;
      for (std::size_t i = 0; i < n; ++i) nk += r[i * K + j], sx += r[i * K + j] * x[i];
      m.weight[j] = nk / static_cast<double>(n);
      if (nk < 1e-12) continue;  // an empty component keeps its place with weight 0
      m.mean[j] = sx / nk;
      double v = 0;
      for (std::size_t i = 0; i < n; ++i) v += r[i * K + j] * (x[i] - m.mean[j]) * (x[i] - m.mean[j]);
      m.sd[j] = std::max(std::sqrt(v / nk), 1e-3);
    }
  }
  return m;
}

std::vector<generation_stats> run_mixture_collapse(const mixture_config& c, std::uint64_t seed) {
  check_schedule(c.s);
  const int k = static_cast<int>(c.truth.weight.size());
  LMLAB_CHECK(k >= 1 && c.truth.mean.size() == c.truth.weight.size() && c.truth.sd.size() == c.truth.weight.size(),
              "mixture: weight, mean and sd need one entry per component");
  const double var_true = c.truth.variance();
  const double lo = quantile_of(c.truth, 0.005), hi = quantile_of(c.truth, 0.995);
  chain_table t(c.s.generations, c.s.chains);
  for (int ch = 0; ch < c.s.chains; ++ch) {
    rng g(seed, static_cast<std::uint64_t>(ch));
    const auto real = sample_mixture(c.truth, c.s.samples, 1.0, g);
    std::vector<double> pool = real;
    mixture m = fit_mixture(real, {}, k, c.em_iters);
    for (int gen = 1; gen <= c.s.generations; ++gen) {
      if (gen > 1) m = fit_mixture(workflow_rows(c.s, 1, real, pool, sample_mixture(m, c.s.samples, c.s.temperature, g), g), m,
                                   k, c.em_iters);
      const std::size_t gi = static_cast<std::size_t>(gen - 1), ci = static_cast<std::size_t>(ch);
      t.var[gi][ci] = m.variance() / var_true;
      double mean = 0;
      for (int j = 0; j < k; ++j) mean += m.weight[j] * m.mean[j];
      double mean_true = 0;
      for (int j = 0; j < k; ++j) mean_true += c.truth.weight[j] * c.truth.mean[j];
      t.shift[gi][ci] = std::abs(mean - mean_true) / std::sqrt(var_true);
      t.tail[gi][ci] = m.cdf(lo) + 1 - m.cdf(hi);
      t.minw[gi][ci] = *std::min_element(m.weight.begin(), m.weight.end());
    }
  }
  return summarise(t);
}

}  // namespace lmlab::datalab
