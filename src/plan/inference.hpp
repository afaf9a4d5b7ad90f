// Inference-aware model sizing (Sardana & Frankle 2023, "Beyond Chinchilla-Optimal: Accounting
// for Inference in Language Model Scaling Laws", arXiv:2401.00448): the N and D_train that reach
// a target loss with the fewest lifetime FLOPs 6·N·D_train + 2·N·D_inference, its saving over
// the Chinchilla-optimal model of the same loss, and (tco) the same in accelerator-hours and money.
// Not for: latency/throughput of serving (memory-bound decode is folded into `utilization`).
#pragma once

#include "plan/chinchilla.hpp"

namespace lmlab::plan {

struct lifetime_plan {
  double n = 0, d_train = 0;               // parameters, training tokens
  double train_flops = 0, inference_flops = 0, total_flops = 0;
};

// D_train that reaches `loss` with N parameters: (B / (loss - E - A/N^alpha))^(1/beta);
// +inf when N is too small to ever reach it.  ref: Sardana & Frankle 2023, eq. (2)-(3)
double tokens_for_loss(const loss_fit& f, double n, double loss);
// Minimises 6·N·D_train(N) + 2·N·D_inf over N (golden-section on log N).  ref: Sardana & Frankle 2023, eq. (3)
lifetime_plan inference_optimal(const loss_fit& f, double loss, double inference_tokens);
// The Chinchilla-optimal model reaching `loss` (minimum training FLOPs), charged the same inference.
lifetime_plan chinchilla_at_loss(const loss_fit& f, double loss, double inference_tokens);

struct cost_options {
  double peak_flops = 0, price_per_hour = 0;
  double train_mfu = 0.4, serve_utilization = 0.2;
};
struct cost {
  double train_hours = 0, inference_hours = 0, train_dollars = 0, inference_dollars = 0, total_dollars = 0;
};
// Accelerator-hours = FLOPs / (peak × utilisation) / 3600; dollars = hours × price.
cost cost_of(const lifetime_plan& p, const cost_options& o);

}  // namespace lmlab::plan
