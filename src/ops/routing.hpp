// Token routing: Mixture-of-Experts top-k routing with capacity and the Switch load-balancing
// loss, Mixture-of-Depths top-k token selection, and the row gather / scatter-add that move
// tokens to and from experts or blocks.
// Gradients (documented choice: masked, not straight-through): the discrete choice (top-k,
// capacity drop) gets no gradient; the router learns through the gate values of the kept
// choices (including their renormalisation) and through the auxiliary loss. A dropped
// choice's gate is 0 and passes no gradient, as in Switch (Fedus et al. 2021 sec. 2.2).
// Not for: the MoE / MoD layers (nn/), expert FFNs.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.hpp"

namespace lmlab {

// Which choices claim expert capacity first.
//  position:    token 0's choices (best first), then token 1's, ... (the order of the sequence)
//  choice_rank: every token's first choice in position order, then every second choice, ...
//               (GShard's top-2 policy: a second choice never evicts a first choice)
enum class moe_priority { position, choice_rank };

struct moe_route_options {
  std::int64_t k = 2;            // experts per token
  double capacity_factor = 0;    // 0: unlimited; else capacity = ceil(cf * tokens * k / experts)
  bool renormalize = true;       // gates = chosen probs / their sum (Mixtral); false: raw probs (Switch k=1)
  moe_priority priority = moe_priority::position;
};

struct moe_routing {
  tensor probs;                         // (N,E) softmax(logits), differentiable
  tensor gates;                         // (N,k) combine weights; 0 where dropped; differentiable
  std::vector<std::int32_t> expert;     // (N*k) chosen expert per (token, rank), best first
  std::vector<std::int32_t> slot;       // (N*k) position in the expert's buffer, -1 if dropped
  std::int64_t capacity = 0;            // per expert (N*k when unlimited)
  std::vector<std::int64_t> routed;     // (E) choices per expert before the capacity cut
  std::vector<std::int64_t> kept;       // (E) after it
  std::int64_t dropped_choices = 0;     // (token, rank) pairs over capacity
  std::int64_t dropped_tokens = 0;      // tokens with every choice dropped (pass through the residual only)
  // Per expert: the token ids of its kept choices in slot order, and the flat (token*k + rank)
  // index of each (to read its gate).
  std::vector<std::vector<std::int32_t>> expert_tokens, expert_choices;
  // Switch auxiliary loss, ref: Fedus et al. 2021 eq. 4-6: E * sum_i f_i P_i with
  // f_i = routed_i / (N k) (fraction of choices, before the capacity cut; k = 1 is the paper's
  // definition, and uniform routing gives 1 for every k; HF Mixtral's value is k times this),
  // P_i = mean_n probs[n, i]. Scalar, differentiable through P only.
  tensor aux_loss;
};

// logits (N,E) -> routing. N tokens (flatten batch and time first).
moe_routing moe_route(const tensor& logits, const moe_route_options& opt);

struct mod_routing {
  std::int64_t k = 0;                   // tokens kept per sequence
  std::vector<std::int32_t> indices;    // (B*k) kept positions per sequence, ascending (causal order)
  tensor weights;                       // (B,k) router[b, indices], differentiable
};

// Mixture-of-Depths, ref: Raposo et al. 2024 sec. 3.1-3.3: router (B,T) scalar weights; per
// sequence the k = ceil(capacity_ratio * T) (at least 1) tokens with the largest weights are
// processed by the block, x_out = x + r_i f(x_i) for them and x_out = x for the rest, so the
// router learns through r_i. Ties go to the earlier position.
mod_routing mod_route(const tensor& router, double capacity_ratio);

// x (N,C) -> (M,C) rows idx[0..M); differentiable (backward scatter-adds).
tensor index_rows(const tensor& x, const std::vector<std::int32_t>& idx);
// base (N,C), y (M,C) -> base with y[m] added to row idx[m] (repeats accumulate);
// differentiable in base and y.
tensor index_add_rows(const tensor& base, const std::vector<std::int32_t>& idx, const tensor& y);

}  // namespace lmlab
