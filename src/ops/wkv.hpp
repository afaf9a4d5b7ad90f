// RWKV-4's WKV operator (Peng et al. 2023, "RWKV: Reinventing RNNs for the Transformer Era",
// eq. 14-16), in the numerically stable max-tracking form of the official CUDA kernel: forward,
// hand-written backward, recurrent step, and the naive (overflow-prone) formula for tests.
// Not for: the time-mix / channel-mix blocks (token shift, receptance gate: models/).
#pragma once

#include "core/tensor.hpp"

namespace lmlab {

// w, u (C); k, v (B,T,C) -> (B,T,C). Per channel c (ref: RWKV-4 eq. 16):
//   wkv_t = (sum_{i<t} e^{(t-1-i) w + k_i} v_i + e^{u + k_t} v_t)
//         / (sum_{i<t} e^{(t-1-i) w + k_i}     + e^{u + k_t})
// `w` is the per-step log decay (the model passes w = -exp(time_decay), so w < 0); `u` is the
// bonus for the current token. Differentiable in all four inputs.
// The state (B,3,C) is (a, b, p): numerator and denominator sums scaled by e^{-p}, p the
// running max exponent. state_out, when given, receives the state after the last token.
tensor wkv(const tensor& w, const tensor& u, const tensor& k, const tensor& v, tensor* state_out = nullptr);

// A fresh state (B,3,C): a = b = 0, p = -inf.
tensor wkv_initial_state(std::int64_t B, std::int64_t C, dtype t = dtype::f32);

// One recurrent step (no autograd): k_t, v_t (B,C) -> (B,C); state updated in place.
tensor wkv_step(tensor& state, const tensor& w, const tensor& u, const tensor& k_t, const tensor& v_t);

// The formula above evaluated literally in double (overflows for large k): tests only.
tensor wkv_reference(const tensor& w, const tensor& u, const tensor& k, const tensor& v);

}  // namespace lmlab
