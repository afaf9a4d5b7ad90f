// Scaling-law fit (Hoffmann et al. 2022, Section 3.3 / Appendix D.2): gradient check and
// recovery of known constants from noisy synthetic runs within the bootstrap intervals.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>

#include "core/error.hpp"
#include "plan/fit.hpp"

using namespace lmlab::plan;

namespace {
std::vector<observation> synthetic(const loss_fit& truth, double noise, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> eps(0.0, noise);
  std::vector<observation> obs;
  for (double n : {1e7, 3e7, 1e8, 3e8, 1e9, 3e9})
    for (double tpp : {5.0, 10.0, 20.0, 40.0, 80.0}) {
      const double d = n * tpp;
      obs.push_back({n, d, truth.loss(n, d) * std::exp(eps(rng))});
    }
  return obs;
}
}  // namespace

TEST(fit, gradient_matches_finite_differences) {
  const auto obs = synthetic(known_loss_fits()[1], 0.02, 3);
  const double x[5] = {6.0, 7.5, 0.6, 0.35, 0.37};
  double g[5];
  huber_objective(obs, x, 1e-3, g);
  for (int k = 0; k < 5; ++k) {
    double xp[5], xm[5];
    std::copy(x, x + 5, xp), std::copy(x, x + 5, xm);
    xp[k] += 1e-6, xm[k] -= 1e-6;
    const double fd = (huber_objective(obs, xp, 1e-3, nullptr) - huber_objective(obs, xm, 1e-3, nullptr)) / 2e-6;
    EXPECT_NEAR(g[k], fd, 1e-6 * std::max(1.0, std::abs(fd))) << k;
  }
}

TEST(fit, recovers_noiseless_constants) {
  const auto& truth = known_loss_fits()[1];  // Epoch
  fit_options o;
  o.coarse_grid = true;
  o.bootstrap = 0;
  const auto r = fit_scaling_law(synthetic(truth, 0.0, 1), o);
  EXPECT_NEAR(r.fit.E, truth.E, 1e-3);
  EXPECT_NEAR(r.fit.alpha, truth.alpha, 2e-3);
  EXPECT_NEAR(r.fit.beta, truth.beta, 2e-3);
  EXPECT_NEAR(r.fit.a(), truth.a(), 1e-3);
}

TEST(fit, noisy_truth_inside_bootstrap_intervals) {
  const auto& truth = known_loss_fits()[1];
  fit_options o;
  o.coarse_grid = true;
  o.bootstrap = 60;
  o.seed = 11;
  const auto r = fit_scaling_law(synthetic(truth, 0.005, 5), o);
  ASSERT_GT(r.bootstrap_ok, 50);
  EXPECT_LE(r.alpha.lo, truth.alpha);
  EXPECT_GE(r.alpha.hi, truth.alpha);
  EXPECT_LE(r.beta.lo, truth.beta);
  EXPECT_GE(r.beta.hi, truth.beta);
  EXPECT_LE(r.a.lo, truth.a());
  EXPECT_GE(r.a.hi, truth.a());
  EXPECT_LE(r.E.lo, truth.E);
  EXPECT_GE(r.E.hi, truth.E);
}

TEST(fit, csv_errors_name_file_and_line) {
  const std::string path = testing::TempDir() + "runs.csv";
  std::ofstream(path) << "N,D,loss\n1e8,2e9,3.1\n1e8,abc,3.0\n";
  try {
    read_observations(path);
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_EQ(std::string(e.what()), path + ":3: D 'abc' is not a positive number");
  }
  std::ofstream(path) << "params,tokens\n1,2\n";
  EXPECT_THROW(read_observations(path), lmlab::error);
}
