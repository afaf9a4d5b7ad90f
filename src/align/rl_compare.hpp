// RL against best-of-n on the same proxy (Gao et al. 2022, sec. 1: "RL spends more KL than
// best-of-n for the same gold gain"): both curves as points (d = sqrt(KL), gold gain over the
// reference), compared where RL's gold peaks. Pure functions; the RL runner (runners.cpp) draws
// the best-of-n pools and logs the result.
// Not for: drawing samples or fitting curves (objectives.hpp, curves.hpp).
#pragma once

#include <span>

namespace lmlab::align {

// The curve's gain at d by linear interpolation between its points (d ascending, the first
// point is the reference: d 0, gain 0); beyond the last point, the last gain.
double gain_at(std::span<const double> d, std::span<const double> gain, double at);

// The smallest d at which the curve (as gain_at) reaches `target`; a negative value when it
// never does. target <= gain[0] gives d[0].
double d_reaching(std::span<const double> d, std::span<const double> gain, double target);

struct rl_bon_comparison {
  double rl_d_peak = 0, rl_gain_peak = 0;  // RL's best evaluation
  double bon_gain_at_peak = 0;             // best-of-n's gain at RL's peak d
  double bon_minus_rl = 0;                 // bon_gain_at_peak - rl_gain_peak (> 0: RL needs more KL for that gain)
  double bon_kl_same_gain = -1;            // KL at which best-of-n first gains rl_gain_peak (< 0: never)
};

// RL's curve (rl_d, rl_gain: its evaluations, step 0 first) against best-of-n's (bon_d,
// bon_gain: n = 1, 2, 4, ...), both gains relative to the reference.
rl_bon_comparison compare_rl_bon(std::span<const double> rl_d, std::span<const double> rl_gain,
                                 std::span<const double> bon_d, std::span<const double> bon_gain);

}  // namespace lmlab::align
