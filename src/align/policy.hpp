// Policies of the alignment lab: any zoo LM (models/lm.hpp) that writes a response after a
// prompt. Here: batched sampling with the model's step mode (temperature 1, the log-probability
// of every draw kept), the packed (prompt + response) batch, the differentiable sequence
// log-probability log pi(y | x) = sum over response tokens of log softmax(logits)[token] that
// DPO and REINFORCE need, and the reference policy's pretraining on the environment's data
// (through train::train_steps, the one training loop).
// Not for: the objectives (objectives.hpp), reward models (reward_model.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <utility>
#include <memory>
#include <string>
#include <vector>

#include "align/env.hpp"
#include "core/rng.hpp"
#include "core/tensor.hpp"
#include "models/lm.hpp"
#include "tasks/params.hpp"

namespace lmlab::align {

using token_seq = std::vector<std::int32_t>;

struct samples {
  std::vector<token_seq> responses;  // each ends at <eos> or at max_new tokens
  std::vector<double> logp;          // log pi(response | prompt) accumulated while sampling
};

// One response per prompt (prompts of equal length), drawn at temperature 1 from `model`
// with uniforms from `r`; no autograd.
samples sample_responses(models::causal_lm& model, const std::vector<token_seq>& prompts, std::int64_t max_new,
                         std::int32_t eos, rng& r);

// Prompt + response rows padded to the longest: inputs (B, T) i32 and per-position targets
// (ignore_index on prompt and padding positions), row-major B*T. The inputs stop before each
// row's last token (it is only a target), unless `whole`: then they hold every token (what a
// reward model reads) and `targets` is all ignore_index.
struct packed_batch {
  tensor inputs;
  std::vector<std::int32_t> targets;
  std::vector<std::int64_t> last;  // index of each row's last real input position
  std::int64_t B = 0, T = 0;
};
packed_batch pack(const std::vector<token_seq>& prompts, const std::vector<token_seq>& responses, std::int32_t pad,
                  bool whole = false);

// logits (B, T, V) and targets (B*T, ignore_index where unsupervised) -> (B): the sum of the
// target tokens' log-probabilities per row. Differentiable in `logits` (f32 or f64).
tensor sequence_logprob(const tensor& logits, const std::vector<std::int32_t>& targets);

// log pi(response | prompt) per row with the model's forward (no autograd when `grad` false).
tensor policy_logprob(models::causal_lm& model, const packed_batch& b);

// log pi(y_i | x_i) - log pi_ref(y_i | x_i) per sample, pi's term from the sampler's own
// log-probabilities, pi_ref's from `ref`'s forward. Its mean over samples y ~ pi is the Monte
// Carlo estimate of KL(pi || pi_ref) the RL loop logs and penalises. No autograd.
std::vector<double> log_ratios(models::causal_lm& ref, const std::vector<token_seq>& prompts, const samples& s,
                               std::int32_t pad);

struct policy_config {
  std::int64_t d_model = 32, n_layers = 2, n_heads = 4;
  std::int64_t steps = 400, batch = 32;
  double lr = 3e-3;
};
// The reference policy as flat [task] keys (policy_d_model, ...), so that one param_table
// describes a task: align_overopt and align_prm derive their configs from it and share the
// keys' defaults, help, ranges and checks.
struct policy_keys {
  std::int64_t policy_d_model = 32, policy_layers = 2, policy_heads = 4, policy_steps = 800, policy_batch = 32;
  double policy_lr = 3e-3;
  policy_config policy() const;
};
// Adds the policy_* keys, in that order, to the table of a config derived from policy_keys.
template <class C>
void add_policy_keys(tasks::param_table<C>& p) {
  p.add("policy_d_model", &C::policy_d_model, "reference policy width", 8, 4096)
      .add("policy_layers", &C::policy_layers, "reference policy blocks", 1, 64)
      .add("policy_heads", &C::policy_heads, "reference policy attention heads", 1, 64)
      .add("policy_steps", &C::policy_steps, "reference policy pretraining steps", 1, 1e7)
      .add("policy_batch", &C::policy_batch, "reference policy pretraining batch", 1, 4096)
      .add("policy_lr", &C::policy_lr, "reference policy pretraining learning rate", 0, 1);
}
// policy_heads must divide policy_d_model; `owner` (the task's name) starts the message.
void check_policy_keys(const policy_keys& k, const std::string& owner);
// The proxy reward model's data and the best-of-n sweep as flat [task] keys, shared the same
// way by align_overopt and align_overopt_lm.
struct proxy_keys {
  std::int64_t rm_pairs = 1000, eval_pairs = 400;
  double label_noise = 0;
};
struct bon_keys {
  std::int64_t prompts = 32, pool = 256, bootstrap = 1000;
};
// Adds rm_pairs, eval_pairs, label_noise, in that order.
template <class C>
void add_proxy_keys(tasks::param_table<C>& p) {
  p.add("rm_pairs", &C::rm_pairs, "preference pairs the proxy is trained on", 1, 1e7)
      .add("eval_pairs", &C::eval_pairs, "held-out gold-labelled pairs for rm_accuracy", 1, 1e7)
      .add("label_noise", &C::label_noise, "share of the proxy's labels flipped", 0, 0.5);
}
// Adds prompts, pool, bootstrap, in that order.
template <class C>
void add_bon_keys(tasks::param_table<C>& p) {
  p.add("prompts", &C::prompts, "bon: prompts evaluated", 2, 1e6)
      .add("pool", &C::pool, "bon: samples per prompt = the largest n (a power of 2)", 2, 65536)
      .add("bootstrap", &C::bootstrap, "resamples of prompts for the fits' CIs", 10, 1e6);
}
// pool must be a power of 2; `owner` (the task's name) starts the message.
void check_pool(std::int64_t pool, const std::string& owner);
// Builds a GPT policy (c's shape, vocab_size, n_ctx) and pretrains it through train::train_steps
// on (prompt, response) examples from `draw` (called batch times per step with an rng that is a
// pure function of (seed, step)); returns the model in eval mode.
using example_fn = std::function<std::pair<token_seq, token_seq>(rng&)>;
std::unique_ptr<models::lm> pretrain_policy(std::int64_t vocab_size, std::int64_t n_ctx, std::int32_t pad, const policy_config& c,
                                            std::uint64_t seed, const example_fn& draw, std::vector<float>* losses = nullptr);
// Builds the reference policy and pretrains it on env.pretraining_response data (items and
// responses drawn from `seed`); returns the model in eval mode.
std::unique_ptr<models::lm> pretrain_reference(const arithmetic_env& env, const policy_config& c, std::uint64_t seed,
                                               std::vector<float>* losses = nullptr);
// A copy of `m` (same config, same weights).
std::unique_ptr<models::lm> clone(const models::lm& m);

}  // namespace lmlab::align
