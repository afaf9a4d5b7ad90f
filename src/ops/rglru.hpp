// Griffin's Real-Gated Linear Recurrent Unit scan (De et al. 2024, "Griffin", sec. 2.4): fused
// forward, hand-written backward, recurrent step. The gates' projections (r_t = sigma(W_a x_t
// + b_a), i_t = sigma(W_x x_t + b_x)) are ordinary linear + sigmoid ops in the block.
// Not for: the recurrent block around it (conv1d, gating, projections: models/).
#pragma once

#include "core/tensor.hpp"

namespace lmlab {

// x, r, i (B,T,D) with r, i already in (0, 1); lambda (D) -> h (B,T,D). ref: Griffin eq. 4-6:
//   a   = sigma(lambda)                       (per channel)
//   a_t = a^(c r_t)       computed as exp(-c r_t softplus(-lambda))
//   h_t = a_t h_{t-1} + sqrt(1 - a_t^2) (i_t x_t),     h_{-1} = 0
// Differentiable in x, r, i, lambda. As in the authors' recurrentgemma code, the derivative of
// sqrt(1 - a_t^2) with respect to its argument is capped at 1000 (a_t -> 1 would make it
// unbounded). last_state, when given, receives h_{T-1} (B,D).
tensor rglru(const tensor& x, const tensor& r, const tensor& i, const tensor& lambda, double c = 8.0,
             tensor* last_state = nullptr);

// One step (no autograd): state (B,D) = h_{t-1} is replaced by h_t, which is also returned.
tensor rglru_step(tensor& state, const tensor& x_t, const tensor& r_t, const tensor& i_t, const tensor& lambda, double c = 8.0);

// The recurrence in plain double loops: the tests' reference.
tensor rglru_reference(const tensor& x, const tensor& r, const tensor& i, const tensor& lambda, double c = 8.0);

}  // namespace lmlab
