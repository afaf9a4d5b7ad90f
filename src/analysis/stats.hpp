// Statistics for comparing measured numbers: summaries with standard errors, confidence
// intervals (Wilson, percentile bootstrap, paired bootstrap), paired and two-sample tests
// (McNemar, Student/Welch t), cluster-robust standard errors, the normal and Student-t
// distributions, and n-gram diversity of generated text. Every function that takes data
// checks its sizes and names itself in the error.
// Not for: calibration (calibration.hpp), scaling-law fits, or anything that trains models.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lmlab::analysis {

// ---- distributions -------------------------------------------------------------------

double normal_cdf(double z);
// Inverse of normal_cdf for p in (0, 1) (Acklam's rational approximation refined by one
// Halley step; |error| < 1e-13).
double normal_quantile(double p);
// Student-t CDF with df > 0 degrees of freedom (regularised incomplete beta).
double student_t_cdf(double t, double df);
// Inverse Student-t CDF, p in (0, 1).
double student_t_quantile(double p, double df);
// Upper tail P(X >= x) of a chi-square with 1 degree of freedom.
double chi2_1_sf(double x);
// Regularised incomplete beta I_x(a, b) (continued fraction).
double incomplete_beta(double a, double b, double x);

// ---- summaries -----------------------------------------------------------------------

struct summary {
  std::size_t n = 0;
  double mean = 0;
  double variance = 0;   // sample variance, divisor n - 1 (0 when n == 1)
  double stddev = 0;
  double std_error = 0;  // stddev / sqrt(n)
};
summary summarize(std::span<const double> x);

// A point estimate with a two-sided interval at `confidence` (e.g. 0.95).
struct interval {
  double estimate = 0;
  double lo = 0;
  double hi = 0;
  double confidence = 0.95;
};

// Student-t interval of the mean: mean ± t_{1-a/2, n-1} · se. Needs n >= 2.
interval mean_ci(std::span<const double> x, double confidence = 0.95);

// Wilson score interval for a proportion successes/n (n > 0).
interval wilson_interval(std::size_t successes, std::size_t n, double confidence = 0.95);

// ---- bootstrap -----------------------------------------------------------------------

struct bootstrap_options {
  std::size_t resamples = 10000;
  double confidence = 0.95;
  std::uint64_t seed = 0;  // lmlab::rng(seed); the same seed gives the same interval
};

using statistic_fn = std::function<double(std::span<const double>)>;

// Percentile bootstrap interval of the mean of x (estimate = mean of x).
interval bootstrap_ci(std::span<const double> x, const bootstrap_options& opt = {});
// Percentile bootstrap of any statistic of one sample (estimate = statistic(x)).
interval bootstrap_ci(std::span<const double> x, const statistic_fn& statistic, const bootstrap_options& opt = {});
// Paired percentile bootstrap of mean(a) - mean(b): items are resampled together, so the
// correlation between a[i] and b[i] (same prompt, same seed) is kept. a.size() == b.size().
interval paired_bootstrap_ci(std::span<const double> a, std::span<const double> b, const bootstrap_options& opt = {});

// ---- tests ---------------------------------------------------------------------------

struct mcnemar_result {
  std::size_t a_only = 0;  // a right, b wrong (discordant)
  std::size_t b_only = 0;  // b right, a wrong (discordant)
  bool exact = false;      // exact binomial test (small counts) or chi-square with continuity
  double statistic = 0;    // chi-square with continuity correction; for exact: min(a_only, b_only)
  double p_value = 1;      // two-sided
  double alpha = 0.05;
  bool tied = true;        // p_value >= alpha: no detectable difference
};
// McNemar's test on the discordant counts. Uses the exact two-sided binomial test when
// a_only + b_only < exact_below, else chi-square (|b - c| - 1)^2 / (b + c) with 1 df.
mcnemar_result mcnemar_test(std::size_t a_only, std::size_t b_only, double alpha = 0.05,
                            std::size_t exact_below = 25);
// The same from per-item correctness of two systems on the same items.
mcnemar_result mcnemar_test(const std::vector<bool>& a_correct, const std::vector<bool>& b_correct,
                            double alpha = 0.05, std::size_t exact_below = 25);

struct t_test_result {
  double mean_diff = 0;  // mean(a) - mean(b)
  double std_error = 0;
  double t = 0;
  double df = 0;
  double p_value = 1;  // two-sided
};
// Two-sample t-test with pooled variance (equal variances assumed).
t_test_result student_t_test(std::span<const double> a, std::span<const double> b);
// Welch's unequal-variance t-test with the Welch-Satterthwaite degrees of freedom.
t_test_result welch_t_test(std::span<const double> a, std::span<const double> b);

// ---- clustered data ------------------------------------------------------------------

struct cluster_mean_result {
  double mean = 0;
  double std_error = 0;        // cluster-robust (CR1)
  double naive_std_error = 0;  // iid: sd / sqrt(n)
  std::size_t n = 0;
  std::size_t clusters = 0;
};
// Mean of x with a cluster-robust standard error, clusters given by an id per item
// (e.g. the template a prompt came from). CR1: the sandwich variance
// sum_g (sum_{i in g} (x_i - mean))^2 / n^2 times the small-sample factor
// G/(G-1) · (n-1)/(n-k); the mean is a regression on an intercept only (k = 1), so the
// factor is G/(G-1) (Stata's `mean x, vce(cluster g)`). Needs G >= 2 clusters.
cluster_mean_result cluster_robust_mean(std::span<const double> x, std::span<const std::int64_t> cluster);

// ---- n-gram diversity ------------------------------------------------------------------

using token_seq = std::vector<std::int32_t>;

// distinct-n: unique n-grams / total n-grams over all sequences (0 when there are none).
double distinct_n(std::span<const token_seq> sequences, int n);
// Splits text on ASCII whitespace and maps each word to an id (same word, same id) so that
// word-level diversity can be computed with distinct_n / self_bleu.
std::vector<token_seq> word_sequences(std::span<const std::string> texts);
// Self-BLEU: average over sequences of BLEU-max_n (uniform weights, brevity penalty, each
// sequence scored against all the others as references; a zero precision is smoothed to
// 0.1 / count; a sequence shorter than max_n uses orders 1..its length). Higher = less diverse.
double self_bleu(std::span<const token_seq> sequences, int max_n = 4);

}  // namespace lmlab::analysis
