// The alignment lab's lab runners (lab/runner.hpp): the task "align_overopt" and its runner.
// One run = one replicate seed x one proxy reward model (the spec's [model] is the proxy's
// backbone, [train] its Bradley-Terry training):
//   1. pretrain the reference policy on environment (a) (env.hpp; [task] policy_* keys);
//   2. sample preference pairs from it, label them with the gold reward (+ label_noise);
//   3. train the proxy; score held-out gold-labelled pairs (rm_accuracy: in-distribution skill);
//   4. optimise against the proxy with task.optimizer:
//      "bon": best-of-n for n = 1, 2, 4, ..., pool from one pool per prompt, KL analytic and
//             sampled, fit of R_bon(d) with bootstrap CIs over prompts;
//      "rl":  REINFORCE with a leave-one-out baseline and a KL penalty to the reference,
//             gold/proxy/KL logged every eval_every steps, fit of R_RL(d) with bootstrap CIs;
//      "ppo": PPO-clip (ppo.hpp) on the same rollouts, rewards and group baseline as "rl",
//             ppo_epochs passes per batch, logged like RL;
//      "dpo": DPO (beta = dpo_beta) on the proxy's own pairs, no reward model in the loop,
//             logged like RL (rl_steps, rl_prompts x rl_group pairs per step, rl_lr).
// Metrics (the store; names in docs/align.md): per slice "n=K" or "step=K" evaluations gold,
// proxy, kl, accuracy, filler; run metrics gold_ref, gold_peak, d_peak, gold_final, gold_drop,
// gold_gain_small, gap_growth, alpha, beta (+ _lo/_hi), fit_r2, rm_accuracy, rm_params.
// Runs are short and restart from scratch when interrupted (no checkpoint).
// Not for: the pieces themselves (env, policy, reward_model, objectives).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "align/env.hpp"
#include "align/policy.hpp"
#include "lab/runner.hpp"
#include "tasks/params.hpp"

namespace lmlab::align {

// Flat, so one param_table (tasks/params.hpp) describes every key.
struct overopt_config : env_config, policy_keys, proxy_keys, bon_keys {
  // environment: env_config (env.hpp); reference policy, proxy data, best-of-n: policy.hpp
  std::string optimizer = "bon";  // bon | rl | dpo
  // what the optimiser maximises: proxy (the learned RM) | gold (the oracle baseline) |
  // format | visible_test (programmatic proxies that check only part of the gold rule)
  std::string reward = "proxy";
  // the proxy (and each ensemble member) starts from the reference policy's weights, as RLHF
  // reward models start from the SFT model; [model] must then have the policy's shape
  bool rm_from_policy = false;
  double length_bias = 0;  // share of pairs labelled "longer is better" instead of by gold
  double sycophancy_bias = 0, keyword_bias = 0;  // labeller biases (reward_model.hpp labeller)
  double sycophancy_pairs = 0;  // labeller: share of wrong-opinion pairs made (claim > right answer)
  // proxy ensembles (Coste et al. 2024): `ensemble` members from different seeds on the same
  // pairs, combined by ensemble_rule: mean | worst (min) | uncertainty (mean - lambda var)
  std::int64_t ensemble = 1;
  std::string ensemble_rule = "mean";
  double ensemble_lambda = 1.0;
  // RL
  std::int64_t rl_steps = 100, rl_prompts = 8, rl_group = 8, eval_every = 10, eval_prompts = 32, eval_samples = 8;
  double rl_lr = 1e-4, kl_coef = 0.2;
  std::int64_t ppo_epochs = 4;  // ppo: optimisation passes over each rollout batch (ppo.hpp)
  double ppo_clip = 0.2;        // ppo: the ratio's clip range eps
  std::int64_t rl_warmup = 0;   // rl, ppo: steps over which the learning rate rises linearly to rl_lr
  double dpo_beta = 0.1;

  const env_config& env() const { return *this; }
};

const tasks::param_table<overopt_config>& overopt_params();
void check(const overopt_config& c);

// Registers the task schema and runner (idempotent: safe to call from the CLI and tests).
void register_align();

// The run itself (what the runner calls): `config` = {model, task, train, ...} as stored.
lab::run_result run_overopt(const lab::run_context& ctx);

}  // namespace lmlab::align
