// Mamba's kernels (Gu & Dao 2023): the selective scan (fused forward, hand-written reverse-time
// backward, a recurrent step for inference) and the causal depthwise conv1d in front of it.
// Shapes use PyTorch's order with channels last: (B, T, D) activations, (D, N) state matrix.
// Not for: the Mamba block (projections, gating: models/), the discretisation of A (the block
// passes A = -exp(A_log) and delta = softplus(...) computed with basic ops).
#pragma once

#include <cstdint>

#include "core/tensor.hpp"

namespace lmlab {

// Selective scan, ref: Gu & Dao 2023 (Mamba) eq. 2a/2b with the ZOH-for-A, Euler-for-B
// discretisation of their Algorithm 2 / reference code:
//   h_t[d,n] = exp(delta_t[d] A[d,n]) h_{t-1}[d,n] + delta_t[d] B_t[n] u_t[d],   h_{-1} = 0
//   y_t[d]   = sum_n C_t[n] h_t[d,n] + Dskip[d] u_t[d]
// u, delta (B,T,D); A (D,N); Bm, Cm (B,T,N); Dskip (D) or undefined -> y (B,T,D).
// Differentiable in all six inputs. The backward recomputes the states (no (B,T,D,N) saved
// activations; the forward saves the state every 64 steps, 1/64 of that) and runs the adjoint
// recurrence backwards in time.
// last_state, when given, receives h_{T-1} (B,D,N) for continuing with selective_scan_step.
tensor selective_scan(const tensor& u, const tensor& delta, const tensor& A, const tensor& Bm, const tensor& Cm,
                      const tensor& Dskip, tensor* last_state = nullptr);

// Mamba's scan with its discretisation of delta and its output gate fused in (the reference
// code's selective_scan_fn(u, delta, A, B, C, D, z, delta_softplus=True); Gu & Dao 2023, fig. 3):
//   y = selective_scan(u, softplus(delta_raw), A, Bm, Cm, Dskip) * silu(z)
// the same scalar formulas as composing softplus, selective_scan, silu and mul
// (ops/internal.hpp), with one autograd node and two passes over (B,T,D) instead of four
// nodes, five passes and their temporaries. Results equal the composed ops' up to the last
// bits (GCC contracts a*b + c into FMAs per inlining site; tests/ops/test_scan.cpp checks
// 2e-6 of each tensor's scale; a Mamba lab run gave identical losses). z (B,T,D) or undefined.
// Differentiable in all seven inputs.
tensor selective_scan_gated(const tensor& u, const tensor& delta_raw, const tensor& A, const tensor& Bm, const tensor& Cm,
                            const tensor& Dskip, const tensor& z, tensor* last_state = nullptr);

// The same recurrence in plain double loops (no threads, no autograd): the tests' reference.
tensor selective_scan_reference(const tensor& u, const tensor& delta, const tensor& A, const tensor& Bm,
                                const tensor& Cm, const tensor& Dskip);

// One recurrent step (inference, no autograd). state (B,D,N) is updated in place;
// u_t, delta_t (B,D); Bm_t, Cm_t (B,N) -> y_t (B,D).
tensor selective_scan_step(tensor& state, const tensor& u_t, const tensor& delta_t, const tensor& A, const tensor& Bm_t,
                           const tensor& Cm_t, const tensor& Dskip);

// Causal depthwise conv1d (PyTorch nn.Conv1d(D, D, K, groups=D, padding=K-1) truncated to the
// first T outputs), channels last:
//   y[b,t,d] = bias[d] + sum_{k<K} w[d,k] x[b, t-K+1+k, d]     (x at negative times = 0)
// x (B,T,D), w (D,K), bias (D) or undefined -> (B,T,D). Differentiable in x, w, bias.
// last_state, when given, receives the last K-1 inputs (B,K-1,D), oldest first (zeros where
// T < K-1), for continuing with causal_conv1d_step.
tensor causal_conv1d(const tensor& x, const tensor& w, const tensor& bias, tensor* last_state = nullptr);

// One step: state (B,K-1,D) holds the previous K-1 inputs oldest first and is shifted in
// place; x_t (B,D) -> (B,D). No autograd.
tensor causal_conv1d_step(tensor& state, const tensor& x_t, const tensor& w, const tensor& bias);

}  // namespace lmlab
