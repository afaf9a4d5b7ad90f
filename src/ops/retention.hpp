// RetNet multi-scale retention (Sun et al. 2023, "Retentive Network") in its three forms:
// parallel (training), recurrent (inference), chunkwise (long sequences). The paper states the
// three are equal; the tests check it. Parallel and chunkwise are differentiable.
// The forms here are the paper's bare equations: the caller applies xPos/rotary to q and k,
// the d^-1/2 scaling, and the GroupNorm afterwards (torchscale's extra normalisations of the
// decay mask and scores are scale factors that GroupNorm removes, so they are left out).
// Not for: the MSR block (projections, swish gate, group norm: models/).
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.hpp"

namespace lmlab {

// The paper's per-head decays gamma_h = 1 - 2^(-5-h), h = 0..H-1. ref: RetNet sec. 2.2.
std::vector<double> retnet_gammas(std::int64_t n_heads);

// q, k (B,H,T,K); v (B,H,T,V); gammas (H) in (0, 1] -> (B,H,T,V).
// Parallel form, ref: RetNet eq. 5:  O = (Q K^T (.) D) V,  D[n,m] = gamma^(n-m) if n >= m else 0.
tensor retention_parallel(const tensor& q, const tensor& k, const tensor& v, const std::vector<double>& gammas);

// Chunkwise form, ref: RetNet eq. 7, chunks of `chunk` tokens (the last may be shorter):
//   R_i = K_[i]^T (V_[i] (.) zeta) + gamma^B R_{i-1},   zeta_j = gamma^(B-1-j)
//   O_[i] = (Q_[i] K_[i]^T (.) D) V_[i] + (Q_[i] R_{i-1}) (.) xi,   xi_j = gamma^(j+1)
// state_out, when given, receives R after the last chunk (B,H,K,V) for retention_step.
tensor retention_chunkwise(const tensor& q, const tensor& k, const tensor& v, const std::vector<double>& gammas,
                           std::int64_t chunk, tensor* state_out = nullptr);

// Recurrent form, ref: RetNet eq. 6:  S_n = gamma S_{n-1} + k_n^T v_n,  o_n = q_n S_n.
// One step (no autograd): state (B,H,K,V) updated in place; q_t, k_t (B,H,K), v_t (B,H,V) -> (B,H,V).
tensor retention_step(tensor& state, const tensor& q_t, const tensor& k_t, const tensor& v_t, const std::vector<double>& gammas);
// The whole sequence by steps from a zero state (no autograd); state_out as above.
tensor retention_recurrent(const tensor& q, const tensor& k, const tensor& v, const std::vector<double>& gammas,
                           tensor* state_out = nullptr);

}  // namespace lmlab
