// Calibration of classifiers and of language models' answer probabilities: expected
// calibration error with equal-width bins (and the per-bin table a reliability diagram
// plots), Brier score, negative log-likelihood, and temperature scaling fitted on dev logits.
// Not for: choosing the answer (probe/), or collecting the logits (lab/, probe/).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace lmlab::analysis {

// One bin of a reliability diagram: confidences in [lo, hi) (the last bin includes 1).
struct calibration_bin {
  double lo = 0;
  double hi = 0;
  std::size_t count = 0;
  double mean_confidence = 0;  // 0 for an empty bin
  double accuracy = 0;         // 0 for an empty bin
};

struct ece_result {
  double ece = 0;  // sum_b |B_b|/n · |acc(B_b) - conf(B_b)|
  double mce = 0;  // max over non-empty bins of |acc - conf|
  std::size_t n = 0;
  std::vector<calibration_bin> bins;  // all n_bins bins, empty ones included
};

// ECE with `n_bins` equal-width bins over [0, 1] (15 is the common choice, Guo et al. 2017).
// confidence[i] is the probability given to the predicted answer, correct[i] whether it was right.
ece_result expected_calibration_error(std::span<const double> confidence, const std::vector<bool>& correct,
                                      std::size_t n_bins = 15);

// Binary Brier score: mean (p_i - y_i)^2 with p the probability of the positive outcome.
double brier_score(std::span<const double> prob, const std::vector<bool>& outcome);
// Multi-class Brier score (Brier 1950): mean over items of sum_k (p_ik - [k == label_i])^2.
// probs is row-major (n, k).
double brier_score_multiclass(std::span<const double> probs, std::size_t k, std::span<const std::int32_t> labels);

// Softmax of logits / temperature per row; logits row-major (n, k).
std::vector<double> softmax_rows(std::span<const double> logits, std::size_t k, double temperature = 1.0);
// Mean negative log-likelihood of labels under softmax(logits / temperature).
double mean_nll(std::span<const double> logits, std::size_t k, std::span<const std::int32_t> labels,
                double temperature = 1.0);

struct temperature_fit {
  double temperature = 1;
  double nll_before = 0;  // at T = 1
  double nll_after = 0;   // at the fitted T
  int iterations = 0;
};
// Temperature scaling (Guo et al. 2017): the single T > 0 minimising mean NLL on dev logits.
// Optimised over beta = 1/T, where the mean NLL is convex (its second derivative is the mean
// variance of the logits under the softmax), by Newton steps kept inside a sign-change bracket
// of the derivative (bisection when a step leaves it); stops at a relative step of 1e-12.
// T is limited to [0.01, 100]; a fit at a limit means the dev logits carry no signal (100) or
// separate the dev set perfectly (0.01).
temperature_fit fit_temperature(std::span<const double> logits, std::size_t k, std::span<const std::int32_t> labels);

}  // namespace lmlab::analysis
