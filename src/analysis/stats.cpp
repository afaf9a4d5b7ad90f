// Statistics: see stats.hpp. Distributions first, then summaries, intervals, tests, clusters,
// diversity.
#include "analysis/stats.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <unordered_map>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace lmlab::analysis {

namespace {
constexpr double kSqrt2 = 1.4142135623730951;
constexpr double kSqrt2Pi = 2.5066282746310002;
constexpr double kPi = 3.141592653589793;

void check_confidence(double c, const char* what) {
  LMLAB_CHECK(c > 0 && c < 1, "{}: confidence must be in (0, 1), got {}", what, c);
}

// Continued fraction for I_x(a, b), modified Lentz's method.
// ref: DLMF 8.17.22 (continued fraction of the incomplete beta function).
double beta_continued_fraction(double a, double b, double x) {
  constexpr double tiny = 1e-300;
  constexpr double eps = 1e-15;
  double c = 1.0;
  double d = 1.0 - (a + b) * x / (a + 1.0);
  if (std::fabs(d) < tiny) d = tiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= 10000; ++m) {
    const double m2 = 2.0 * m;
    // even step: d_{2m} = m (b - m) x / ((a + 2m - 1)(a + 2m))
    double num = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
    d = 1.0 + num * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1.0 + num / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    h *= d * c;
    // odd step: d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1))
    num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
    d = 1.0 + num * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1.0 + num / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1.0) < eps) break;
  }
  return h;
}

double student_t_pdf(double t, double df) {
  const double lc = std::lgamma((df + 1) / 2) - std::lgamma(df / 2) - 0.5 * std::log(df * kPi);
  return std::exp(lc - (df + 1) / 2 * std::log1p(t * t / df));
}

// Quantile at probability q of sorted values, linear interpolation between order statistics
// (Hyndman & Fan 1996 type 7, numpy's default).
double sorted_quantile(const std::vector<double>& s, double q) {
  const double pos = q * static_cast<double>(s.size() - 1);
  const auto i = static_cast<std::size_t>(std::floor(pos));
  if (i + 1 >= s.size()) return s.back();
  const double f = pos - static_cast<double>(i);
  return s[i] + f * (s[i + 1] - s[i]);
}
}  // namespace

// ---- distributions -------------------------------------------------------------------

double normal_cdf(double z) { return 0.5 * std::erfc(-z / kSqrt2); }

double normal_quantile(double p) {
  LMLAB_CHECK(p > 0 && p < 1, "normal_quantile: p must be in (0, 1), got {}", p);
  // ref: P. J. Acklam, "An algorithm for computing the inverse normal cumulative distribution
  // function" (2003): rational approximations, relative error 1.15e-9, then one Halley step.
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01,  -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  constexpr double p_low = 0.02425;
  double x;
  if (p < p_low) {
    const double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= 1 - p_low) {
    const double q = p - 0.5;
    const double r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    const double q = std::sqrt(-2 * std::log1p(-p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  // Halley refinement against erfc (full double precision in the body of the distribution).
  const double e = normal_cdf(x) - p;
  const double u = e * kSqrt2Pi * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

double incomplete_beta(double a, double b, double x) {
  LMLAB_CHECK(a > 0 && b > 0, "incomplete_beta: a and b must be > 0, got a={} b={}", a, b);
  LMLAB_CHECK(x >= 0 && x <= 1, "incomplete_beta: x must be in [0, 1], got {}", x);
  if (x == 0) return 0;
  if (x == 1) return 1;
  const double log_front =
      std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  const double front = std::exp(log_front);
  // The continued fraction converges fast for x < (a + 1) / (a + b + 2); use symmetry otherwise.
  if (x < (a + 1) / (a + b + 2)) return front * beta_continued_fraction(a, b, x) / a;
  return 1 - front * beta_continued_fraction(b, a, 1 - x) / b;
}

double student_t_cdf(double t, double df) {
  LMLAB_CHECK(df > 0, "student_t_cdf: degrees of freedom must be > 0, got {}", df);
  if (std::isinf(df)) return normal_cdf(t);
  // ref: Abramowitz & Stegun 26.7.1 / 26.5.27: P(T <= -|t|) = I_{df/(df+t^2)}(df/2, 1/2) / 2.
  const double tail = 0.5 * incomplete_beta(df / 2, 0.5, df / (df + t * t));
  return t > 0 ? 1 - tail : tail;
}

double student_t_quantile(double p, double df) {
  LMLAB_CHECK(p > 0 && p < 1, "student_t_quantile: p must be in (0, 1), got {}", p);
  LMLAB_CHECK(df > 0, "student_t_quantile: degrees of freedom must be > 0, got {}", df);
  if (std::isinf(df)) return normal_quantile(p);
  if (p == 0.5) return 0;
  if (p < 0.5) return -student_t_quantile(1 - p, df);
  // Bracket [0, hi] with cdf(hi) >= p, then Newton steps kept inside the bracket (bisection
  // when a step would leave it).
  double lo = 0, hi = 1;
  while (student_t_cdf(hi, df) < p) {
    lo = hi;
    hi *= 2;
    LMLAB_ASSERT(hi < 1e300, "student_t_quantile: bracket overflow");
  }
  double x = std::clamp(normal_quantile(p), lo, hi);
  for (int it = 0; it < 200; ++it) {
    const double f = student_t_cdf(x, df) - p;
    if (f > 0) hi = x; else lo = x;
    double next = x - f / student_t_pdf(x, df);
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    if (std::fabs(next - x) <= 1e-14 * std::max(1.0, std::fabs(x))) return next;
    x = next;
  }
  return x;
}

double chi2_1_sf(double x) {
  if (x <= 0) return 1;
  // A chi-square with 1 df is Z^2: P(Z^2 >= x) = erfc(sqrt(x / 2)).
  return std::erfc(std::sqrt(x / 2));
}

// ---- summaries -----------------------------------------------------------------------

summary summarize(std::span<const double> x) {
  LMLAB_CHECK(!x.empty(), "summarize: empty sample");
  summary s;
  s.n = x.size();
  // Two-pass: the mean first, then squared deviations (no catastrophic cancellation).
  s.mean = std::accumulate(x.begin(), x.end(), 0.0) / static_cast<double>(s.n);
  if (s.n > 1) {
    double ss = 0;
    for (double v : x) ss += (v - s.mean) * (v - s.mean);
    s.variance = ss / static_cast<double>(s.n - 1);
  }
  s.stddev = std::sqrt(s.variance);
  s.std_error = s.stddev / std::sqrt(static_cast<double>(s.n));
  return s;
}

interval mean_ci(std::span<const double> x, double confidence) {
  check_confidence(confidence, "mean_ci");
  LMLAB_CHECK(x.size() >= 2, "mean_ci: need at least 2 values, got {}", x.size());
  const summary s = summarize(x);
  const double t = student_t_quantile(1 - (1 - confidence) / 2, static_cast<double>(s.n - 1));
  return {s.mean, s.mean - t * s.std_error, s.mean + t * s.std_error, confidence};
}

interval wilson_interval(std::size_t successes, std::size_t n, double confidence) {
  check_confidence(confidence, "wilson_interval");
  LMLAB_CHECK(n > 0, "wilson_interval: n must be > 0");
  LMLAB_CHECK(successes <= n, "wilson_interval: successes {} > n {}", successes, n);
  // ref: Wilson 1927; Newcombe 1998 "Two-sided confidence intervals for the single
  // proportion", method 3: (p + z^2/2n ± z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n).
  const double z = normal_quantile(1 - (1 - confidence) / 2);
  const double nn = static_cast<double>(n);
  const double p = static_cast<double>(successes) / nn;
  const double denom = 1 + z * z / nn;
  const double center = (p + z * z / (2 * nn)) / denom;
  const double half = z * std::sqrt(p * (1 - p) / nn + z * z / (4 * nn * nn)) / denom;
  return {p, std::max(0.0, center - half), std::min(1.0, center + half), confidence};
}

// ---- bootstrap -----------------------------------------------------------------------

interval bootstrap_ci(std::span<const double> x, const statistic_fn& statistic, const bootstrap_options& opt) {
  check_confidence(opt.confidence, "bootstrap_ci");
  LMLAB_CHECK(!x.empty(), "bootstrap_ci: empty sample");
  LMLAB_CHECK(opt.resamples >= 2, "bootstrap_ci: resamples must be >= 2, got {}", opt.resamples);
  // ref: Efron & Tibshirani 1993, "An Introduction to the Bootstrap", ch. 13 (percentile interval).
  lmlab::rng r(opt.seed);
  std::vector<double> stats(opt.resamples);
  std::vector<double> sample(x.size());
  for (std::size_t b = 0; b < opt.resamples; ++b) {
    for (auto& v : sample) v = x[r.below(x.size())];
    stats[b] = statistic(sample);
  }
  std::sort(stats.begin(), stats.end());
  const double a = (1 - opt.confidence) / 2;
  return {statistic(x), sorted_quantile(stats, a), sorted_quantile(stats, 1 - a), opt.confidence};
}

interval bootstrap_ci(std::span<const double> x, const bootstrap_options& opt) {
  check_confidence(opt.confidence, "bootstrap_ci");
  LMLAB_CHECK(!x.empty(), "bootstrap_ci: empty sample");
  LMLAB_CHECK(opt.resamples >= 2, "bootstrap_ci: resamples must be >= 2, got {}", opt.resamples);
  // The mean is common enough to skip the std::function and the copy per resample.
  lmlab::rng r(opt.seed);
  std::vector<double> stats(opt.resamples);
  const double n = static_cast<double>(x.size());
  for (std::size_t b = 0; b < opt.resamples; ++b) {
    double s = 0;
    for (std::size_t i = 0; i < x.size(); ++i) s += x[r.below(x.size())];
    stats[b] = s / n;
  }
  std::sort(stats.begin(), stats.end());
  const double a = (1 - opt.confidence) / 2;
  const double mean = std::accumulate(x.begin(), x.end(), 0.0) / n;
  return {mean, sorted_quantile(stats, a), sorted_quantile(stats, 1 - a), opt.confidence};
}

interval paired_bootstrap_ci(std::span<const double> a, std::span<const double> b, const bootstrap_options& opt) {
  LMLAB_CHECK(a.size() == b.size(), "paired_bootstrap_ci: samples differ in size: {} vs {}", a.size(), b.size());
  LMLAB_CHECK(!a.empty(), "paired_bootstrap_ci: empty samples");
  // Resampling item indices and taking mean(a*) - mean(b*) equals resampling d_i = a_i - b_i.
  std::vector<double> d(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) d[i] = a[i] - b[i];
  return bootstrap_ci(d, opt);
}

// ---- tests ---------------------------------------------------------------------------

mcnemar_result mcnemar_test(std::size_t a_only, std::size_t b_only, double alpha, std::size_t exact_below) {
  LMLAB_CHECK(alpha > 0 && alpha < 1, "mcnemar_test: alpha must be in (0, 1), got {}", alpha);
  mcnemar_result r;
  r.a_only = a_only;
  r.b_only = b_only;
  r.alpha = alpha;
  const std::size_t n = a_only + b_only;
  if (n == 0) {
    r.exact = true;
    r.statistic = 0;
    r.p_value = 1;
  } else if (n < exact_below) {
    // Under H0 each discordant pair is a fair coin: two-sided p = 2 P(X <= min(b, c)),
    // X ~ Binomial(b + c, 1/2), capped at 1.
    r.exact = true;
    const std::size_t k = std::min(a_only, b_only);
    double cdf = 0;
    for (std::size_t i = 0; i <= k; ++i)
      cdf += std::exp(std::lgamma(n + 1.0) - std::lgamma(i + 1.0) - std::lgamma(n - i + 1.0) - n * std::log(2.0));
    r.statistic = static_cast<double>(k);
    r.p_value = std::min(1.0, 2 * cdf);
  } else {
    // ref: McNemar 1947; Edwards 1948 continuity correction: (|b - c| - 1)^2 / (b + c), 1 df.
    const double diff = std::fabs(static_cast<double>(a_only) - static_cast<double>(b_only));
    const double corrected = std::max(0.0, diff - 1);
    r.statistic = corrected * corrected / static_cast<double>(n);
    r.p_value = chi2_1_sf(r.statistic);
  }
  r.tied = r.p_value >= alpha;
  return r;
}

mcnemar_result mcnemar_test(const std::vector<bool>& a_correct, const std::vector<bool>& b_correct, double alpha,
                            std::size_t exact_below) {
  LMLAB_CHECK(a_correct.size() == b_correct.size(), "mcnemar_test: a has {} items, b has {}; they must be the same items",
              a_correct.size(), b_correct.size());
  std::size_t a_only = 0, b_only = 0;
  for (std::size_t i = 0; i < a_correct.size(); ++i) {
    if (a_correct[i] && !b_correct[i]) ++a_only;
    if (!a_correct[i] && b_correct[i]) ++b_only;
  }
  return mcnemar_test(a_only, b_only, alpha, exact_below);
}

namespace {
t_test_result finish_t(double diff, double se, double df) {
  t_test_result r;
  r.mean_diff = diff;
  r.std_error = se;
  r.df = df;
  if (se == 0) {
    r.t = diff == 0 ? 0 : std::copysign(std::numeric_limits<double>::infinity(), diff);
    r.p_value = diff == 0 ? 1 : 0;
    return r;
  }
  r.t = diff / se;
  r.p_value = std::min(1.0, 2 * student_t_cdf(-std::fabs(r.t), df));
  return r;
}
}  // namespace

t_test_result student_t_test(std::span<const double> a, std::span<const double> b) {
  LMLAB_CHECK(a.size() >= 2 && b.size() >= 2, "student_t_test: each sample needs >= 2 values, got {} and {}",
              a.size(), b.size());
  const summary sa = summarize(a), sb = summarize(b);
  const double na = static_cast<double>(sa.n), nb = static_cast<double>(sb.n);
  const double df = na + nb - 2;
  const double pooled = ((na - 1) * sa.variance + (nb - 1) * sb.variance) / df;
  return finish_t(sa.mean - sb.mean, std::sqrt(pooled * (1 / na + 1 / nb)), df);
}

t_test_result welch_t_test(std::span<const double> a, std::span<const double> b) {
  LMLAB_CHECK(a.size() >= 2 && b.size() >= 2, "welch_t_test: each sample needs >= 2 values, got {} and {}",
              a.size(), b.size());
  const summary sa = summarize(a), sb = summarize(b);
  const double na = static_cast<double>(sa.n), nb = static_cast<double>(sb.n);
  const double va = sa.variance / na, vb = sb.variance / nb;
  // ref: Welch 1947; Satterthwaite 1946: df = (va + vb)^2 / (va^2/(na-1) + vb^2/(nb-1)).
  const double denom = va * va / (na - 1) + vb * vb / (nb - 1);
  const double df = denom > 0 ? (va + vb) * (va + vb) / denom : na + nb - 2;
  return finish_t(sa.mean - sb.mean, std::sqrt(va + vb), df);
}

// ---- clustered data ------------------------------------------------------------------

cluster_mean_result cluster_robust_mean(std::span<const double> x, std::span<const std::int64_t> cluster) {
  LMLAB_CHECK(x.size() == cluster.size(), "cluster_robust_mean: {} values but {} cluster ids", x.size(), cluster.size());
  LMLAB_CHECK(!x.empty(), "cluster_robust_mean: empty sample");
  cluster_mean_result r;
  const summary s = summarize(x);
  r.n = s.n;
  r.mean = s.mean;
  r.naive_std_error = s.std_error;
  std::unordered_map<std::int64_t, double> score;  // sum of residuals per cluster
  for (std::size_t i = 0; i < x.size(); ++i) score[cluster[i]] += x[i] - s.mean;
  r.clusters = score.size();
  LMLAB_CHECK_HINT(r.clusters >= 2, "cluster ids group items that share a template or prompt source",
                   "cluster_robust_mean: need at least 2 clusters, got {}", r.clusters);
  // ref: Cameron & Miller 2015, "A Practitioner's Guide to Cluster-Robust Inference", eq. (11)
  // with the CR1 factor c = G/(G-1) · (N-1)/(N-K), K = 1 for the mean.
  double meat = 0;
  for (const auto& [id, u] : score) meat += u * u;
  const double n = static_cast<double>(r.n), g = static_cast<double>(r.clusters);
  r.std_error = std::sqrt(g / (g - 1) * meat / (n * n));
  return r;
}

// ---- n-gram diversity ------------------------------------------------------------------

namespace {
using ngram_counts = std::unordered_map<std::string, int>;

std::string ngram_key(const token_seq& s, std::size_t start, int n) {
  std::string k(static_cast<std::size_t>(n) * sizeof(std::int32_t), '\0');
  std::memcpy(k.data(), s.data() + start, k.size());
  return k;
}

ngram_counts count_ngrams(const token_seq& s, int n) {
  ngram_counts c;
  if (s.size() < static_cast<std::size_t>(n)) return c;
  for (std::size_t i = 0; i + static_cast<std::size_t>(n) <= s.size(); ++i) ++c[ngram_key(s, i, n)];
  return c;
}
}  // namespace

double distinct_n(std::span<const token_seq> sequences, int n) {
  LMLAB_CHECK(n >= 1, "distinct_n: n must be >= 1, got {}", n);
  // ref: Li et al. 2016, "A Diversity-Promoting Objective Function for Neural Conversation
  // Models", sec. 4.3: distinct n-grams divided by the total number of n-grams.
  std::unordered_map<std::string, int> seen;
  std::size_t total = 0;
  for (const auto& s : sequences) {
    if (s.size() < static_cast<std::size_t>(n)) continue;
    for (std::size_t i = 0; i + static_cast<std::size_t>(n) <= s.size(); ++i) {
      ++seen[ngram_key(s, i, n)];
      ++total;
    }
  }
  return total == 0 ? 0.0 : static_cast<double>(seen.size()) / static_cast<double>(total);
}

std::vector<token_seq> word_sequences(std::span<const std::string> texts) {
  std::unordered_map<std::string, std::int32_t> ids;
  std::vector<token_seq> out;
  out.reserve(texts.size());
  for (const auto& t : texts) {
    token_seq seq;
    std::size_t i = 0;
    while (i < t.size()) {
      while (i < t.size() && std::isspace(static_cast<unsigned char>(t[i]))) ++i;
      std::size_t j = i;
      while (j < t.size() && !std::isspace(static_cast<unsigned char>(t[j]))) ++j;
      if (j > i) {
        auto [it, inserted] = ids.try_emplace(t.substr(i, j - i), static_cast<std::int32_t>(ids.size()));
        seq.push_back(it->second);
      }
      i = j;
    }
    out.push_back(std::move(seq));
  }
  return out;
}

double self_bleu(std::span<const token_seq> sequences, int max_n) {
  LMLAB_CHECK(max_n >= 1, "self_bleu: max_n must be >= 1, got {}", max_n);
  LMLAB_CHECK(sequences.size() >= 2, "self_bleu: need at least 2 sequences, got {}", sequences.size());
  // counts[n-1][s]: n-gram counts of sequence s.
  std::vector<std::vector<ngram_counts>> counts(static_cast<std::size_t>(max_n));
  for (int n = 1; n <= max_n; ++n)
    for (const auto& s : sequences) counts[n - 1].push_back(count_ngrams(s, n));
  double total_bleu = 0;
  std::size_t scored = 0;
  for (std::size_t h = 0; h < sequences.size(); ++h) {
    const auto hyp_len = sequences[h].size();
    if (hyp_len == 0) continue;
    // ref: Zhu et al. 2018, "Texygen", self-BLEU: each generation scored by BLEU against the
    // others. ref: Papineni et al. 2002, BLEU: clipped n-gram precision (eq. in sec. 2.1),
    // geometric mean with uniform weights, brevity penalty exp(1 - r/c) for c <= r with r the
    // closest reference length. A zero precision is smoothed to 0.1 / total (Chen & Cherry
    // 2014 method 1, as Texygen's NLTK call does) so one missing order does not zero the score.
    // A hypothesis shorter than max_n is scored with orders 1..len only (uniform weights).
    const int orders = static_cast<int>(std::min<std::size_t>(static_cast<std::size_t>(max_n), hyp_len));
    double log_p = 0;
    for (int n = 1; n <= orders; ++n) {
      const auto& hc = counts[n - 1][h];
      std::size_t total = 0, clipped = 0;
      for (const auto& [gram, c] : hc) {
        int max_ref = 0;
        for (std::size_t r = 0; r < sequences.size(); ++r) {
          if (r == h) continue;
          const auto it = counts[n - 1][r].find(gram);
          if (it != counts[n - 1][r].end()) max_ref = std::max(max_ref, it->second);
        }
        total += static_cast<std::size_t>(c);
        clipped += static_cast<std::size_t>(std::min(c, max_ref));
      }
      const double p = clipped > 0 ? static_cast<double>(clipped) / static_cast<double>(total)
                                   : 0.1 / static_cast<double>(total);
      log_p += std::log(p) / orders;
    }
    std::size_t ref_len = 0;
    std::size_t best_gap = std::numeric_limits<std::size_t>::max();
    for (std::size_t r = 0; r < sequences.size(); ++r) {
      if (r == h) continue;
      const std::size_t len = sequences[r].size();
      const std::size_t gap = len > hyp_len ? len - hyp_len : hyp_len - len;
      if (gap < best_gap || (gap == best_gap && len < ref_len)) {
        best_gap = gap;
        ref_len = len;
      }
    }
    const double bp = hyp_len >= ref_len ? 1.0 : std::exp(1.0 - static_cast<double>(ref_len) / hyp_len);
    total_bleu += bp * std::exp(log_p);
    ++scored;
  }
  LMLAB_CHECK(scored > 0, "self_bleu: every sequence is empty");
  return total_bleu / static_cast<double>(scored);
}

}  // namespace lmlab::analysis
