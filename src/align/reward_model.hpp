// Reward models of the alignment lab: any zoo backbone (models/lm.hpp; the spec's [model]
// table) with a scalar head on the final-norm hidden state of the last real token,
//   r(x, y) = w . ln_f(h_L)[last] + b,
// trained with the Bradley-Terry loss (objectives.hpp) on preference pairs sampled from the
// reference policy and labelled by the environment's gold reward, with optional label noise
// (each label flipped with probability label_noise), as Gao et al. 2022 label proxy data with
// their gold reward model.
// Not for: the policy side (policy.hpp), the losses' definitions (objectives.hpp).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <vector>

#include "align/env.hpp"
#include "align/policy.hpp"
#include "models/lm.hpp"
#include "train/optim.hpp"

namespace lmlab::align {

class reward_model {
 public:
  // `backbone` is a zoo model config (models/lm_config.hpp keys); vocab_size and n_ctx are
  // taken from the environment. `where` names the config in errors ("model").
  reward_model(const nlohmann::json& backbone, std::int64_t vocab_size, std::int64_t n_ctx, std::uint64_t seed,
               const std::string& where = "model");

  // Rewards (B) of packed (prompt + response) rows, packed whole (policy.hpp pack); differentiable.
  tensor forward(const packed_batch& b);
  // The scalar head at every position (B, T) of packed whole rows: what a process reward model
  // reads at each step's end (chain.hpp); differentiable.
  tensor forward_all(const packed_batch& b);
  // Rewards without autograd, in chunks of `chunk` rows.
  std::vector<double> score(const std::vector<token_seq>& prompts, const std::vector<token_seq>& responses,
                            std::int32_t pad, std::int64_t chunk = 256);

  // Copies every backbone weight from `src` (same config: names and shapes must match), as an
  // RLHF reward model starts from the policy's weights (Ouyang et al. 2022 sec. 3.5).
  void init_from(const models::lm& src);
  // The reward model's backbone must have the reference policy's shape to start from its
  // weights: a param_error on `key` ("rm_from_policy") naming both shapes otherwise.
  void check_policy_shape(const policy_keys& k, const std::string& owner, const std::string& key = "rm_from_policy") const;
  nn::named_tensors named_parameters() const;
  std::int64_t num_parameters() const;
  models::lm& backbone() { return *lm_; }

 private:
  tensor final_hidden(const packed_batch& b);  // ln_f of the last block's residual (B, T, C)
  std::unique_ptr<models::lm> lm_;
  tensor head_w_, head_b_;  // (C), (1)
};

// A preference pair: the prompt, the chosen and the rejected response (after bias and noise).
struct preference_pair {
  item prompt;
  token_seq chosen, rejected;
  bool flipped = false;  // label noise swapped the gold preference
  bool biased = false;   // the label came from a bias rule, not from gold
};

// How pairs are labelled: by gold, except for biased labellers (issue 14 item 5), each applied
// to a share of the pairs it can tell apart (one uniform per pair decides for all three):
//   length_bias      pairs whose responses differ in length prefer the longer one;
//   sycophancy_bias  pairs where exactly one response agrees with the prompt's stated opinion
//                    prefer the agreeing one (whether the opinion is right or not);
//   keyword_bias     pairs where exactly one response contains the keyword prefer that one;
// (a later rule overrides an earlier one), and then each label is flipped with probability
// `label_noise`.
struct labeller {
  double label_noise = 0;
  double length_bias = 0;
  double sycophancy_bias = 0;
  double keyword_bias = 0;
  // A bias whose strength sets the share of labels it reverses: each pair whose prompt states
  // a wrong opinion is, with this probability, replaced by a minimal pair (the right answer vs
  // the wrong claim, both with the chosen response's tail of keyword/fillers/<eos>)
  // labelled "the claim is better". So the share of labels reversed against gold is
  // sycophancy_pairs x (share of wrong opinions) (the existing sycophancy_bias reaches only
  // the few sampled pairs that differ in agreement).
  double sycophancy_pairs = 0;
};

// `n` pairs with distinct gold rewards (ties are redrawn, at most 50 n tries), both responses
// sampled from `policy`, labelled by `lab`.
std::vector<preference_pair> make_pairs(models::causal_lm& policy, const arithmetic_env& env, std::int64_t n,
                                        const labeller& lab, rng& r);

struct rm_train_config {
  std::int64_t steps = 300, batch = 32;
  double lr = 3e-3, weight_decay = 0.0, grad_clip = 1.0;
};
// Bradley-Terry training; returns the loss per step.
// The optimiser every reward model here trains with (train_reward_model, train_chain_rm):
// AdamW (beta2 0.95) over the backbone and scalar head without the unused LM head, warmup
// min(30, steps / 10), cosine from lr to lr / 10. step() clips the gradient norm and steps.
class rm_optimizer {
 public:
  rm_optimizer(reward_model& rm, double lr, double weight_decay, std::int64_t steps);
  void zero_grad() { opt_.zero_grad(); }
  void step(std::int64_t step, double grad_clip);

 private:
  nn::named_tensors params_;
  train::adamw opt_;
  std::vector<tensor> plist_;
  train::lr_schedule sched_;
};

std::vector<float> train_reward_model(reward_model& rm, const std::vector<preference_pair>& pairs, const rm_train_config& c,
                                      std::int32_t pad, std::uint64_t seed);
// Share of pairs whose chosen response the model scores higher (ties count half).
double pair_accuracy(reward_model& rm, const std::vector<preference_pair>& pairs, std::int32_t pad);

}  // namespace lmlab::align
