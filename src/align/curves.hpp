// What the alignment lab's runners share around their curves: a proxy's [train] table read into
// a Bradley-Terry training config, the fit of gold reward against d = sqrt(KL) with bootstrap
// CIs over prompts, the curve summary every optimiser logs (gold_ref, gold_peak, d_peak,
// gold_final, gold_drop, gold_gain_small, gold_gain_peak, gap_growth), and a best-of-n sweep
// over pools of samples (one per prompt) that logs each slice "n=K" and fits R_bon(d).
// Used by runners.cpp (environment (a)) and lm_env.cpp (environment (b)).
// Not for: the estimators and fits themselves (objectives.hpp).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "align/objectives.hpp"
#include "align/reward_model.hpp"
#include "align/sink.hpp"

namespace lmlab::align {

// [train] keys steps, batch_size, lr, weight_decay, grad_clip (missing keys keep the defaults).
rm_train_config rm_train_from(const nlohmann::json& train);

// Logs alpha, beta (+ _lo/_hi: percentile-bootstrap 95% CIs of `refit` over resampled prompt
// indices 0..n_prompts-1) and fit_r2.
void log_fit(const sink& out, const fit_result& f, const std::function<fit_result(std::span<const double>)>& refit,
             std::size_t n_prompts, std::int64_t resamples, std::uint64_t seed);

// The summary of a curve (d_i, gold_i, proxy_i), point 0 = the reference; "small KL" is point
// small_index.
void log_curve_summary(const sink& out, const std::vector<double>& d, const std::vector<double>& gold,
                       const std::vector<double>& proxy, std::size_t small_index);

// Per-sample values beside gold and proxy whose best-of-n expectation a sweep logs per slice:
// name and values[prompt][sample] (same order as the pools).
using sample_values = std::pair<std::string, std::vector<std::vector<double>>>;

// Best-of-n for n = 1, 2, 4, ..., N (N = the pools' size, a power of 2): per slice "n=K" the
// mean over prompts of E[gold], E[proxy] and E[each extra] under best-of-n by the proxy
// (bon_expected), the analytic KL (bon_kl), the sampled KL (bon_kl_sampled), d = sqrt(analytic
// KL) and difficulty = n; then the fit of R_bon(d) = gold(n) - gold(1) with bootstrap CIs over
// prompts, d_peak_fit and gold_gain_peak_fit when beta > 0, and the curve summary (small KL:
// n = 4, 0.64 nats). Returns the mean gold per n.
std::vector<double> bon_sweep(const sink& out, const std::vector<pool>& pools, const std::vector<sample_values>& extras,
                              std::int64_t resamples, std::uint64_t seed);

}  // namespace lmlab::align
