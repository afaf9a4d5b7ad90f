// A ROME-style rank-one edit of one MLP (Meng et al. 2022, "Locating and Editing Factual
// Associations in GPT", §3): the MLP's output matrix W (blocks.L.mlp.w_out, (C, M)) is treated
// as a linear associative memory from keys k (the MLP's hidden activation, hook_post, M) to
// values W k + b (hook_mlp_out, C). To make the subject's key k* map to a chosen value v*
// while changing the outputs for other keys as little as possible (in the least-squares sense
// weighted by the keys' second moment C = E[k kᵀ]), the edit is
//   W' = W + Λ (C⁻¹ k*)ᵀ,   Λ = (v* − (W k* + b)) / ((C⁻¹ k*)ᵀ k*)        ref: Meng et al. 2022, eq. 2
// so W' k* + b = v* exactly, and for any key k with kᵀ C⁻¹ k* = 0 the output is unchanged.
// C is estimated from the training data's tokens (the paper uses 100k Wikipedia samples);
// λ·mean(diag C)·I is added before solving (C is singular when M exceeds the tokens' rank).
// v* is found by gradient descent on a vector δ added to the MLP output at the subject's last
// token, minimising −log p(new answer | prompt) + l2·|δ|² (the paper's eq. 4 without its
// essence-drift KL term, and with δ fitted on one prompt, the question; the editing runner
// averages k* over two contexts, the question and the bare name, where ROME averages over random
// prefixes, eq. 3).
// Not for: MEMIT's many-layer edits, or models whose ffn is not the GELU/SwiGLU MLP.
#pragma once

#include <cstdint>
#include <vector>

#include "models/lm.hpp"
#include "tasks/dataset.hpp"

namespace lmlab::knowledge {

// C = mean over every non-pad input token of the examples of k kᵀ, (M, M) row-major, double.
std::vector<double> key_second_moment(models::lm& model, std::int64_t layer, const std::vector<tasks::example>& examples,
                                      std::int32_t pad_id);

// The key (hook_post, M) and the MLP output (hook_mlp_out, C) at position `pos` of `ids`.
struct mlp_io {
  std::vector<double> key, out;
};
mlp_io mlp_at(models::lm& model, std::int64_t layer, const std::vector<std::int32_t>& ids, std::int64_t pos);

struct value_options {
  int steps = 40;
  double lr = 0.1;   // Adam on δ
  double l2 = 1e-3;  // penalty on |δ|²
  double stop_prob = 0.95;  // stop once p(answer) reaches this
};
struct value_fit {
  std::vector<double> delta;  // v* − (W k* + b)
  double prob_before = 0, prob_after = 0;  // p(answer tokens) without / with δ
  int steps = 0;
};
// `ex`: the prompt with the new answer supervised (knowledge::answer_example); `pos`: the
// subject's last token in ex.input.
value_fit optimize_value(models::lm& model, std::int64_t layer, const tasks::example& ex, std::int64_t pos,
                         const value_options& opt = {});

// p(answer tokens of `ex`) with `delta` (C) added to the MLP output of `layer` at position
// `pos`; delta = 0 gives the model's own probability. With delta = (another subject's MLP
// output) − (this one's) it is a resample ablation of the subject's MLP output, the test behind
// ROME's premise that the fact is read from there (Meng et al. 2022, §2 causal tracing).
double answer_prob_with_delta(models::lm& model, std::int64_t layer, const tasks::example& ex, std::int64_t pos,
                              const std::vector<double>& delta);

// W += Λ uᵀ with u = (C + λ·mean(diag C)·I)⁻¹ k and Λ = delta / (uᵀ k), delta = v* − (W k + b).
// Returns the previous W so the caller can restore it (restore_weight).
std::vector<float> apply_rank_one(models::lm& model, std::int64_t layer, const std::vector<double>& C, double lambda,
                                  const std::vector<double>& key, const std::vector<double>& delta);
void restore_weight(models::lm& model, std::int64_t layer, const std::vector<float>& saved);

// The share of the edit that another key k receives: after apply_rank_one(C, λ, k*, delta),
// the MLP output at k is W k + b + gain·delta with gain = (uᵀ k) / (uᵀ k*), u as above; 1 at
// k* itself. Where k* is an average over contexts (the editing runner's k*), the gain at the
// question's own key says how much of v* the question receives.
double edit_gain(const std::vector<double>& C, double lambda, const std::vector<double>& key, const std::vector<double>& probe);

// Solves (A + ridge·I) x = b for symmetric positive (semi)definite A (n, n) by Cholesky.
std::vector<double> solve_spd(const std::vector<double>& A, std::size_t n, const std::vector<double>& b, double ridge);

}  // namespace lmlab::knowledge
