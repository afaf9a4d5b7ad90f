// The losses and closed forms of the alignment lab, each with its source:
//   bt_loss      Bradley-Terry preference loss of a reward model
//   dpo_loss     Direct Preference Optimisation
//   bon_kl       the analytic KL of best-of-n
//   bon pool     expected reward of best-of-n for every n <= N from one pool of N samples, and
//                the exact KL of best-of-n over the pool's empirical distribution
//   fits         Gao et al.'s functional forms of gold reward against d = sqrt(KL)
// Not for: models or sampling (policy.hpp, reward_model.hpp), the loops (runners.cpp).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace lmlab::align {

// r_chosen, r_rejected (B) -> scalar mean over pairs of -log sigmoid(r_chosen - r_rejected)
// = softplus(r_rejected - r_chosen). d/dr_chosen = -sigmoid(r_rejected - r_chosen) / B.
// ref: Bradley & Terry 1952; as a reward-model loss, Ouyang et al. 2022 (InstructGPT) eq. 1.
tensor bt_loss(const tensor& r_chosen, const tensor& r_rejected);

// Sequence log-probabilities (B) of the policy and the frozen reference on chosen (w) and
// rejected (l) responses -> scalar mean of
//   -log sigmoid(beta * ((pi_w - ref_w) - (pi_l - ref_l))).
// ref: Rafailov et al. 2023, "Direct Preference Optimization", eq. 7.
tensor dpo_loss(const tensor& pi_w, const tensor& pi_l, const tensor& ref_w, const tensor& ref_l, double beta);

// KL(pi_bon || pi_ref) = log n - (n - 1) / n for continuous rewards without ties; an upper
// bound in general. ref: Gao et al. 2022 (arXiv 2210.10760), methodology of best-of-n (the
// formula they use for KL_bon); Beirami et al. 2024 (arXiv 2401.01879) sec. 3 (it is an upper
// bound, tight only without ties).
double bon_kl(std::int64_t n);

// One prompt's pool of N samples from the reference policy, each with its proxy and gold
// reward and an id of its distinct response (equal ids: the same text).
struct pool {
  std::vector<double> proxy, gold;
  std::vector<std::int64_t> response_id;
};

// E[gold of the proxy-argmax of n samples], n <= N, with the n samples a uniform n-subset of
// the pool: rank i (1-based, by proxy ascending) is the subset's maximum with probability
// C(i-1, n-1) / C(N, n) (order statistics without replacement), so the estimate is unbiased
// for best-of-n from the policy for every n <= N. Gao et al. 2022 likewise estimate best-of-n
// for all n from one larger pool of samples. `values` (one per sample) is what is averaged:
// the gold reward, the proxy itself, correctness, length.
double bon_expected(const pool& p, std::int64_t n, std::span<const double> values);

// The exact KL of best-of-n over the pool's empirical distribution p^(y) = count(y) / N:
//   pi_bon(y) = F(y)^n - F(y-)^n, F the CDF of the proxy reward under p^ over distinct
//   responses, KL = sum_y pi_bon(y) log(pi_bon(y) / p^(y)).
// Ties (the same response drawn twice) make it smaller than bon_kl(n).
// ref: Beirami et al. 2024 (arXiv 2401.01879) sec. 2 (the best-of-n policy of a discrete
// reference, ties included).
double bon_kl_sampled(const pool& p, std::int64_t n);

// An ensemble's combined reward per sample from scores[m][i] (member m, sample i):
//   "mean"         the members' mean;
//   "worst"        their minimum (worst-case optimisation, WCO);
//   "uncertainty"  mean - lambda * variance over members (population variance; UWO).
// ref: Coste et al. 2024, "Reward Model Ensembles Help Mitigate Overoptimization"
// (arXiv:2310.02743), sec. 3 (mean, WCO, UWO).
std::vector<double> combine_ensemble(const std::vector<std::vector<double>>& scores, const std::string& rule, double lambda);

// Least-squares fits through the origin of R(d) = gold(d) - gold(0) over points (d_i, R_i):
//   best-of-n  R = d (alpha - beta d)          ref: Gao et al. 2022 sec. 1, R_bon(d)
//   RL         R = d (alpha - beta log d)      ref: Gao et al. 2022 sec. 1, R_RL(d)
// with d = sqrt(KL(pi || pi_init)) and R(0) = 0 by definition.
struct fit_result {
  double alpha = 0, beta = 0, r2 = 0;
  bool ok = false;  // false when the 2x2 normal equations are singular
};
fit_result fit_bon(std::span<const double> d, std::span<const double> r);
fit_result fit_rl(std::span<const double> d, std::span<const double> r);

}  // namespace lmlab::align
