// Distributions, summaries, intervals and tests against published tables, worked examples
// and values computed by hand (the arithmetic is in the comments).
#include "analysis/stats.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace a = lmlab::analysis;

namespace {
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const lmlab::error& e) {
    return e.what();
  }
  return "(no error)";
}
}  // namespace

TEST(distributions, normal_quantile_known_values) {
  EXPECT_NEAR(a::normal_quantile(0.975), 1.959963984540054, 1e-12);
  EXPECT_NEAR(a::normal_quantile(0.5), 0.0, 1e-15);
  EXPECT_NEAR(a::normal_quantile(0.05), -1.6448536269514722, 1e-12);
  EXPECT_NEAR(a::normal_quantile(1e-10), -6.361340902404056, 1e-9);
  for (double p : {1e-12, 0.001, 0.02, 0.3, 0.7, 0.99, 1 - 1e-9})
    EXPECT_NEAR(a::normal_cdf(a::normal_quantile(p)), p, 1e-12 * std::max(1.0, p / 1e-3)) << p;
  EXPECT_EQ(error_of([] { a::normal_quantile(1.0); }), "normal_quantile: p must be in (0, 1), got 1");
}

TEST(distributions, student_t_table_values) {
  // Two-sided 95% and 99% critical values from any t table.
  EXPECT_NEAR(a::student_t_quantile(0.975, 1), 12.706204736174707, 1e-9);
  EXPECT_NEAR(a::student_t_quantile(0.975, 10), 2.2281388519649385, 1e-10);
  EXPECT_NEAR(a::student_t_quantile(0.975, 30), 2.0422724563012373, 1e-10);
  EXPECT_NEAR(a::student_t_quantile(0.995, 5), 4.032142983557536, 1e-9);
  EXPECT_NEAR(a::student_t_quantile(0.025, 10), -2.2281388519649385, 1e-10);
  // Closed forms: df=1 is Cauchy, F(t) = 1/2 + atan(t)/pi; df=2: F(t) = 1/2 + t / (2 sqrt(2 + t^2)).
  EXPECT_NEAR(a::student_t_cdf(2.0, 1), 0.5 + std::atan(2.0) / M_PI, 1e-13);
  EXPECT_NEAR(a::student_t_cdf(1.0, 2), 0.5 + 1.0 / (2 * std::sqrt(3.0)), 1e-13);
  EXPECT_NEAR(a::student_t_cdf(-1.0, 2), 0.5 - 1.0 / (2 * std::sqrt(3.0)), 1e-13);
}

TEST(distributions, incomplete_beta_and_chi2) {
  // I_0.4(2, 3) = sum_{j=2..4} C(4,j) 0.4^j 0.6^(4-j) = 0.3456 + 0.1536 + 0.0256.
  EXPECT_NEAR(a::incomplete_beta(2, 3, 0.4), 0.5248, 1e-14);
  EXPECT_NEAR(a::incomplete_beta(3, 2, 0.6), 1 - 0.5248, 1e-14);
  EXPECT_NEAR(a::chi2_1_sf(3.841458820694124), 0.05, 1e-12);
  EXPECT_EQ(a::chi2_1_sf(0.0), 1.0);
}

TEST(summaries, mean_variance_std_error) {
  // mean 5; squared deviations 9+1+1+1+0+0+4+16 = 32; variance 32/7; se sqrt(32/7/8) = sqrt(4/7).
  const std::vector<double> x = {2, 4, 4, 4, 5, 5, 7, 9};
  const auto s = a::summarize(x);
  EXPECT_EQ(s.n, 8u);
  EXPECT_DOUBLE_EQ(s.mean, 5.0);
  EXPECT_DOUBLE_EQ(s.variance, 32.0 / 7.0);
  EXPECT_DOUBLE_EQ(s.std_error, std::sqrt(4.0 / 7.0));
  const auto ci = a::mean_ci(x, 0.95);
  // t_{0.975, 7} = 2.364624251592785.
  EXPECT_NEAR(ci.hi - 5.0, 2.364624251592785 * std::sqrt(4.0 / 7.0), 1e-10);
  EXPECT_NEAR(5.0 - ci.lo, 2.364624251592785 * std::sqrt(4.0 / 7.0), 1e-10);
  EXPECT_EQ(a::summarize(std::vector<double>{3.0}).variance, 0.0);
  EXPECT_EQ(error_of([] { a::summarize({}); }), "summarize: empty sample");
}

TEST(intervals, wilson_matches_newcombe_1998) {
  // Newcombe 1998, Statistics in Medicine 17:857, Table I, method 3 (score interval without
  // continuity correction), to the 4 decimals printed there.
  struct row { std::size_t r, n; double lo, hi; };
  for (const row& e : {row{81, 263, 0.2553, 0.3662}, row{15, 148, 0.0624, 0.1605}, row{0, 20, 0.0, 0.1611},
                       row{1, 29, 0.0061, 0.1718}}) {
    const auto ci = a::wilson_interval(e.r, e.n, 0.95);
    EXPECT_NEAR(ci.lo, e.lo, 5e-5) << e.r << "/" << e.n;
    EXPECT_NEAR(ci.hi, e.hi, 5e-5) << e.r << "/" << e.n;
    EXPECT_DOUBLE_EQ(ci.estimate, static_cast<double>(e.r) / e.n);
  }
  EXPECT_EQ(error_of([] { a::wilson_interval(5, 4); }), "wilson_interval: successes 5 > n 4");
}

TEST(bootstrap, two_point_sample_is_exact) {
  // Resampled means of {0, 1} are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4: the 2.5% and
  // 97.5% percentiles of 20000 draws are 0 and 1.
  const std::vector<double> x = {0, 1};
  const auto ci = a::bootstrap_ci(x, {.resamples = 20000, .confidence = 0.95, .seed = 1});
  EXPECT_EQ(ci.estimate, 0.5);
  EXPECT_EQ(ci.lo, 0.0);
  EXPECT_EQ(ci.hi, 1.0);
  // At 40% confidence the 30% and 70% percentiles both land on 0.5.
  const auto narrow = a::bootstrap_ci(x, {.resamples = 20000, .confidence = 0.4, .seed = 1});
  EXPECT_EQ(narrow.lo, 0.5);
  EXPECT_EQ(narrow.hi, 0.5);
}

TEST(bootstrap, seeded_and_close_to_normal_theory) {
  lmlab::rng r(11);
  std::vector<double> x(400);
  for (auto& v : x) v = 3.0 + 2.0 * r.normal();
  const auto s = a::summarize(x);
  const auto c1 = a::bootstrap_ci(x, {.resamples = 4000, .seed = 5});
  const auto c2 = a::bootstrap_ci(x, {.resamples = 4000, .seed = 5});
  const auto c3 = a::bootstrap_ci(x, {.resamples = 4000, .seed = 6});
  EXPECT_EQ(c1.lo, c2.lo);
  EXPECT_EQ(c1.hi, c2.hi);
  EXPECT_NE(c1.lo, c3.lo);
  // Half-width within 10% of 1.96 se (Monte Carlo error of 4000 resamples is ~2%).
  EXPECT_NEAR((c1.hi - c1.lo) / 2, 1.959964 * s.std_error, 0.1 * 1.959964 * s.std_error);
  // The generic-statistic overload with the mean gives the same kind of interval.
  const auto g = a::bootstrap_ci(
      x, [](std::span<const double> v) { return a::summarize(v).mean; }, {.resamples = 4000, .seed = 5});
  EXPECT_EQ(g.estimate, s.mean);
  EXPECT_NEAR(g.hi - g.lo, c1.hi - c1.lo, 0.1 * (c1.hi - c1.lo));
}

TEST(bootstrap, paired_keeps_the_pairing) {
  // b = a + 1 exactly: every resample has mean difference -1, however noisy a is.
  lmlab::rng r(3);
  std::vector<double> x(50), y(50);
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = 10 * r.normal();
    y[i] = x[i] + 1;
  }
  const auto ci = a::paired_bootstrap_ci(x, y, {.resamples = 1000, .seed = 2});
  EXPECT_NEAR(ci.estimate, -1.0, 1e-12);
  EXPECT_NEAR(ci.lo, -1.0, 1e-12);
  EXPECT_NEAR(ci.hi, -1.0, 1e-12);
  EXPECT_EQ(error_of([&] { a::paired_bootstrap_ci(x, std::vector<double>(3), {}); }),
            "paired_bootstrap_ci: samples differ in size: 50 vs 3");
}

TEST(mcnemar, exact_binomial_small_counts) {
  // 3 vs 10 discordant: p = 2 * (C(13,0)+C(13,1)+C(13,2)+C(13,3)) / 2^13 = 2 * 378 / 8192.
  const auto m = a::mcnemar_test(std::size_t{3}, std::size_t{10}, 0.05);
  EXPECT_TRUE(m.exact);
  EXPECT_NEAR(m.p_value, 756.0 / 8192.0, 1e-14);
  EXPECT_EQ(m.statistic, 3.0);
  EXPECT_TRUE(m.tied);
  const auto m2 = a::mcnemar_test(std::size_t{0}, std::size_t{8}, 0.05);  // p = 2 / 256
  EXPECT_NEAR(m2.p_value, 2.0 / 256.0, 1e-15);
  EXPECT_FALSE(m2.tied);
  const auto none = a::mcnemar_test(std::size_t{0}, std::size_t{0});
  EXPECT_EQ(none.p_value, 1.0);
  EXPECT_TRUE(none.tied);
}

TEST(mcnemar, chi_square_with_continuity_correction) {
  // The textbook table (Wikipedia "McNemar's test"): b = 121, c = 59.
  // (|121 - 59| - 1)^2 / 180 = 3721 / 180 = 20.6722; p = erfc(sqrt(20.6722 / 2)) = 5.450e-6.
  const auto m = a::mcnemar_test(std::size_t{121}, std::size_t{59}, 0.05);
  EXPECT_FALSE(m.exact);
  EXPECT_NEAR(m.statistic, 3721.0 / 180.0, 1e-12);
  EXPECT_NEAR(m.p_value, 5.450094825427123e-06, 1e-15);
  EXPECT_FALSE(m.tied);
  // From per-item correctness: a right/b wrong twice, b right/a wrong once -> exact, p = 1.
  const auto v = a::mcnemar_test(std::vector<bool>{true, true, false, true, false},
                                 std::vector<bool>{false, false, true, true, false});
  EXPECT_EQ(v.a_only, 2u);
  EXPECT_EQ(v.b_only, 1u);
  EXPECT_EQ(v.p_value, 1.0);
  EXPECT_EQ(error_of([] { a::mcnemar_test(std::vector<bool>{true}, std::vector<bool>{}); }),
            "mcnemar_test: a has 1 items, b has 0; they must be the same items");
}

TEST(t_tests, welch_wikipedia_example_1) {
  // Wikipedia "Welch's t-test", example 1: t = -2.46, df = 24.99 (Welch) and 28 (Student),
  // p = 0.021 for both.
  const std::vector<double> a1 = {27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4};
  const std::vector<double> a2 = {27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4};
  const auto w = a::welch_t_test(a1, a2);
  EXPECT_NEAR(w.t, -2.45535639828601, 1e-10);
  EXPECT_NEAR(w.df, 24.98852929023142, 1e-9);
  EXPECT_NEAR(w.p_value, 0.021, 5e-4);
  const auto s = a::student_t_test(a1, a2);
  EXPECT_NEAR(s.t, -2.45535639828601, 1e-10);  // equal n: same t, different df
  EXPECT_EQ(s.df, 28.0);
  EXPECT_NEAR(s.p_value, 0.021, 5e-4);
  // p from the t CDF is consistent with the quantile: t at p/2 reproduces |t|.
  EXPECT_NEAR(-a::student_t_quantile(w.p_value / 2, w.df), std::fabs(w.t), 1e-8);
}

TEST(cluster, cr1_hand_computed) {
  // x = {1,2,3 | 4,5 | 9}, mean 4. Cluster residual sums: -6, 1, 5; meat = 36 + 1 + 25 = 62.
  // V = G/(G-1) * 62 / n^2 = 1.5 * 62 / 36; naive se = sqrt(8 / 6) (variance 40 / 5 = 8).
  const std::vector<double> x = {1, 2, 3, 4, 5, 9};
  const std::vector<std::int64_t> g = {7, 7, 7, 3, 3, 11};
  const auto r = a::cluster_robust_mean(x, g);
  EXPECT_EQ(r.clusters, 3u);
  EXPECT_DOUBLE_EQ(r.mean, 4.0);
  EXPECT_NEAR(r.std_error, std::sqrt(1.5 * 62.0 / 36.0), 1e-14);
  EXPECT_NEAR(r.naive_std_error, std::sqrt(8.0 / 6.0), 1e-14);
  EXPECT_EQ(error_of([] { a::cluster_robust_mean(std::vector<double>{1, 2}, std::vector<std::int64_t>{0, 0}); }),
            "cluster_robust_mean: need at least 2 clusters, got 1");
}

TEST(cluster, singleton_clusters_reduce_to_hc1_of_the_mean) {
  // One item per cluster: V = n/(n-1) * sum e^2 / n^2 = s^2 / n, the iid standard error.
  const std::vector<double> x = {2, 4, 4, 4, 5, 5, 7, 9};
  const std::vector<std::int64_t> g = {0, 1, 2, 3, 4, 5, 6, 7};
  const auto r = a::cluster_robust_mean(x, g);
  EXPECT_NEAR(r.std_error, r.naive_std_error, 1e-14);
}
