// Policy-gradient pieces of the alignment lab's RL loop (runners.cpp, optimizer "rl" and "ppo"):
// the group baseline and PPO's clipped surrogate objective.
//
// PPO-clip (Schulman et al. 2017, "Proximal Policy Optimization Algorithms", eq. 7), here per
// sequence: with r_i = pi(y_i | x_i) / pi_old(y_i | x_i) (pi_old = the policy that sampled the
// batch) and advantage A_i,
//   L = -mean_i min(r_i A_i, clip(r_i, 1 - eps, 1 + eps) A_i).
// The batch is reused for several epochs; once a sample's ratio leaves [1 - eps, 1 + eps] in
// the direction its advantage pushes, the min picks the clipped (constant) term and the sample
// stops contributing gradient. The advantage is the group's leave-one-out baseline (as for
// REINFORCE; Kool et al. 2019), no value network: a group baseline in the manner of GRPO
// (Shao et al. 2024), without its per-group normalisation.
// Not for: the loops themselves (runners.cpp), the KL estimate (policy.hpp log_ratios).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/tensor.hpp"

namespace lmlab::align {

// A_i = R_i - mean of the other members of i's group; groups are consecutive runs of `group`
// samples (prompt-major, as roll() lays them out). group >= 2.
std::vector<double> group_advantages(std::span<const double> reward, std::int64_t group);

// PPO-clip loss above. logp_new (B) differentiable; logp_old (B) a constant (no gradient flows
// to it); adv (B). eps > 0. Gradient: dL/dlogp_new_i = -r_i A_i / B where the unclipped term
// is the min, 0 where the clipped term is.
tensor ppo_clip_loss(const tensor& logp_new, const tensor& logp_old, std::span<const double> adv, double eps);

// Share of samples whose clipped term is active (strictly below the unclipped one): PPO's
// "clip fraction" diagnostic.
double ppo_clip_fraction(std::span<const double> logp_new, std::span<const double> logp_old, std::span<const double> adv,
                         double eps);

}  // namespace lmlab::align
