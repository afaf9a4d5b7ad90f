// Outcome vs process supervision (issue 14 item 6; Lightman et al. 2023, "Let's Verify Step by
// Step", arXiv:2305.20050): a multi-step arithmetic task, its solver's labels, outcome and
// process reward models, and the lab runner "align_prm" that reranks n samples by either.
//
// The task: add `terms` one-digit numbers, writing every partial sum, separated by ";":
//   Inputs : <bos> 3 + 5 + 8 + 2 = 8 ; 1 6 ; 1 8 <eos>
// A step is the text up to a ";" or <eos>; the solver labels step j correct when it is a number
// equal to the previous step's written value (or the first term) plus the next term, and it
// is the last step exactly when it ends with <eos> (so stopping early or running on is wrong).
// The outcome is correct when the response is well formed and its last step equals the sum.
// The reference policy is pretrained on solutions whose steps slip (the true step value
// +-1..2) with probability step_error, later steps computed from the slipped value, so a slip
// makes the final answer wrong (unless two slips cancel).
//
// Outcome reward model (ORM): the scalar head at the response's last token, trained with
// binary cross-entropy on the outcome label; a solution's score is that logit.
// Process reward model (PRM): the same head read at every step's end (its ";" or <eos>),
// trained with binary cross-entropy on the step labels; a solution's score is
// sum_j log sigmoid(s_j), the log of the product of the step-correct probabilities
// (Lightman et al. sec. 2.6: "the probability that every step is correct").
// Not for: the preference-based reward models (reward_model.hpp), environment (a) (env.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "align/env.hpp"
#include "align/policy.hpp"
#include "align/reward_model.hpp"
#include "core/rng.hpp"
#include "lab/runner.hpp"
#include "tasks/dataset.hpp"
#include "tasks/params.hpp"

namespace lmlab::align {

struct chain_config {
  std::int64_t terms = 4;      // numbers to add (terms - 1 steps)
  double step_error = 0.15;    // reference data: probability that a step slips
};

struct chain_item {
  std::vector<std::int64_t> x;  // the terms
  token_seq prompt;             // <bos> x1 + x2 + ... =
};

struct chain_labels {
  bool well_formed = false;         // exactly terms - 1 numeric steps, ";"-separated, then <eos>
  bool correct = false;             // well formed and the last step equals the sum
  std::vector<bool> step_ok;        // per step (as many as the response has), the solver's label
  std::vector<std::int64_t> step_end;  // index in the response of each step's ";" or <eos> (or last token)
  bool process_ok() const;          // every step correct
};

class chain_env : public token_env<chain_env, chain_config> {
 public:
  explicit chain_env(const chain_config& c);
  std::int64_t prompt_length() const { return 2 * cfg_.terms + 1; }
  std::int64_t max_response() const { return 3 * (cfg_.terms - 1) + 1; }  // two digits + separator per step, one spare

  chain_item draw(rng& r) const;
  token_seq pretraining_response(const chain_item& it, rng& r) const;
  // The task's own solver: deterministic labels of `response` (the tokens after the prompt).
  chain_labels label(const chain_item& it, const token_seq& response) const;

 private:
  void append_number(token_seq& out, std::int64_t v) const;
  std::int32_t bos_ = 0, plus_ = 0, equals_ = 0, sep_ = 0;
  std::vector<std::int32_t> digit_id_;
};

// Flat, so one param_table describes every key of the task "align_prm".
struct prm_config : policy_keys {
  std::int64_t terms = 4;
  double step_error = 0.15;
  std::string supervision = "process";  // outcome | process
  bool rm_from_policy = true;           // the reward model starts from the reference policy's weights
  std::int64_t rm_samples = 2000;       // labelled reference solutions the reward model trains on
  std::int64_t eval_samples = 400;      // held-out solutions for rm_auc
  std::int64_t prompts = 32, pool = 256, votes = 200;
  // Reranking sees only well-formed samples (a final answer can be read off), as majority
  // voting does; "all" lets a reward model pick malformed ones too.
  std::string rerank = "well_formed";
  // Where the head is read for a step (process) or the answer (outcome): at the step's ";" or
  // <eos> ("separator", Lightman et al.'s step-end token), or at the step's last digit
  // ("last_digit"), whose residual holds the written digit itself.
  std::string read_at = "separator";
};
const tasks::param_table<prm_config>& prm_params();

// Scores of solutions (prompts + responses) by a reward model under `supervision`: the last
// token's logit (outcome) or the sum of log sigmoid over step ends (process). No autograd.
std::vector<double> chain_scores(reward_model& rm, const chain_env& env, const std::vector<token_seq>& prompts,
                                 const std::vector<token_seq>& responses, const std::string& supervision,
                                 std::int64_t chunk = 256, const std::string& read_at = "separator");

// The response index the head is read at for the step (or answer) ending at `end` (its ";",
// <eos> or last token): `end` itself, or with read_at = "last_digit" the token before when
// `end` is a ";" or <eos> that follows a step's token.
std::int64_t chain_read_position(const chain_env& env, const token_seq& response, std::int64_t end, const std::string& read_at);

// One training step's loss: binary cross-entropy, mean over labelled positions, of the head's
// logits (B, T) at `positions` (flat b * T + t) against `labels` (1 correct, 0 not):
//   softplus(-s) for a correct position, softplus(s) for a wrong one.
tensor positions_bce(const tensor& scores, const std::vector<std::int64_t>& positions, const std::vector<int>& labels);

// Trains `rm` with positions_bce: outcome supervision reads the last token of each response
// (label: correct), process supervision every step end (labels: step_ok). Returns the losses.
struct chain_rm_train {
  std::int64_t steps = 300, batch = 32;
  double lr = 3e-3, weight_decay = 0;
  std::string read_at = "separator";  // chain_read_position
};
std::vector<float> train_chain_rm(reward_model& rm, const chain_env& env, const std::vector<chain_item>& items,
                                  const std::vector<token_seq>& responses, const std::vector<chain_labels>& labels,
                                  const std::string& supervision, const chain_rm_train& c, std::uint64_t seed);

// Expected accuracy of majority voting over final answers among n of the pool's samples
// (uniform n-subsets, `draws` Monte Carlo subsets, ties broken uniformly): Lightman et al.'s
// baseline. `answers[i]` is sample i's final answer (-1: malformed, never a vote), `correct`
// its correctness.
double majority_vote_accuracy(const std::vector<std::int64_t>& answers, const std::vector<double>& correct, std::int64_t n,
                              std::int64_t draws, rng& r);

// Registers the task schema and runner "align_prm" (idempotent).
void register_align_prm();
lab::run_result run_prm(const lab::run_context& ctx);

}  // namespace lmlab::align
