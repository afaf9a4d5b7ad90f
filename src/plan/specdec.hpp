// Speculative decoding arithmetic (Leviathan, Kalman & Matias 2023, "Fast Inference from
// Transformers via Speculative Decoding", ICML): expected tokens per target step, walltime
// speedup for a draft/target cost ratio c, the optimal draft length, and the acceptance rate
// estimated from a log of accepted draft lengths.
// Not for: simulating the sampling itself, or tree/multi-draft variants (Medusa, EAGLE).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lmlab::plan {

// E[#tokens per target call] = (1 - alpha^(gamma+1)) / (1 - alpha).  ref: Leviathan et al. 2023, eq. (1)
double specdec_expected_tokens(double alpha, int gamma);
// Walltime improvement (1 - alpha^(gamma+1)) / ((1 - alpha)(gamma·c + 1)).  ref: Theorem 3.8
double specdec_speedup(double alpha, int gamma, double c);
// Factor by which total arithmetic grows: (1-alpha)(gamma·c_hat + gamma + 1) / (1 - alpha^(gamma+1)),
// c_hat = draft/target arithmetic per token.  ref: Theorem 3.11
double specdec_ops_factor(double alpha, int gamma, double c_hat);
// The integer gamma in [1, max_gamma] with the largest speedup; 0 when no gamma beats plain
// decoding (which happens exactly when alpha <= c; ref: Corollary 3.9).
int specdec_optimal_gamma(double alpha, double c, int max_gamma = 64);

struct acceptance_estimate {
  double alpha = 0;          // maximum-likelihood estimate
  std::int64_t steps = 0;    // number of logged target steps
  double mean_accepted = 0;  // mean accepted draft tokens per step
  double mean_tokens = 0;    // mean tokens emitted per step (accepted + 1 from the target)
};
// From accepted draft lengths n_i in [0, gamma]: each step is a run of Bernoulli(alpha) trials
// stopped at the first rejection or at gamma, so the MLE is sum(n) / (sum(n) + #{n_i < gamma}).
acceptance_estimate estimate_acceptance(const std::vector<std::int64_t>& accepted, int gamma);
// Reads whitespace/comma-separated integers from a file; errors name the file and the line.
std::vector<std::int64_t> read_accept_log(const std::string& path);

}  // namespace lmlab::plan
