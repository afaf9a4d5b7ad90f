// Induction-head formation during training, as a lab experiment: the "induction_formation"
// task's parameters (a schema for experiment specs), its training batches (sequences of n
// random tokens repeated once, every next token supervised), and what one evaluation point
// measures — the loss on the first and second half, the in-context-learning score, and the
// best induction and previous-token head scores (the `heads` verb's metric, interp.hpp).
// ref: Olsson et al. 2022, "In-context Learning and Induction Heads": sec. "Argument 1"
// (the phase change: induction heads form at the same point in training as in-context
// learning improves, visible as a bump in the loss curve); the in-context learning score
// is the loss late in the context minus the loss early in it (their 500th minus 50th token;
// here the repeated half minus the first half). One-layer attention models do not form
// induction heads (their sec. "Argument 1", "one-layer models"), which the experiment's
// one-layer variant checks. The lab runner that trains and logs is src/labs/interp_runners.cpp.
// Not for: scoring heads of a finished checkpoint (interp.hpp head_scores, `lmlab interp heads`).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <vector>

#include "models/causal_lm.hpp"
#include "tasks/registry.hpp"

namespace lmlab::interp {

struct formation_task {
  std::int64_t vocab_size = 64;   // random tokens in [0, vocab_size)
  std::int64_t half_len = 16;     // n: tokens per half; sequences are 2n long
  // Training sequences repeat a segment of random length m in [min_half_len, n] (0: n / 2),
  // after 2(n - m) random filler tokens, so the distance to the earlier copy varies: with a
  // fixed distance, a one-layer model solves the task by attending at a fixed relative position
  // (measured: induction score 0.98 after 100 steps with RoPE), which is not an induction head.
  std::int64_t min_half_len = 0;
  std::int64_t eval_every = 25;   // steps between evaluation points (and step 0)
  std::int64_t eval_batch = 32;   // sequences per evaluation point (fixed across points)
  double induction_threshold = 0.3;  // "formed": the best head's final induction score reaches this
  double icl_threshold = 0.5;     // "in-context learning": final second-half loss below this x ln(vocab)
};

// The task schema ("induction_formation") for lab::register_lab_task; no dataset (a lab runner).
void check(const formation_task& t);
const tasks::param_table<formation_task>& formation_params();

// Training batch of step `step`: B sequences (B, 2n) of filler then a random segment repeated
// (see min_half_len) as inputs, targets the next token (the last position ignored). A pure
// function of (seed, step). Evaluation uses the plain repeated test (no filler, m = n).
struct formation_batch {
  tensor inputs, targets;  // i32 (B, 2n)
};
formation_batch formation_batch_at(const formation_task& t, std::int64_t B, std::uint64_t seed, std::int64_t step);

struct formation_point {
  std::int64_t step = 0;
  double loss_first = 0;      // mean CE predicting tokens 1 .. n-1 (random: ln V at best)
  double loss_second = 0;     // mean CE predicting tokens n+1 .. 2n-1 (copies of tokens 1 .. n-1)
  double icl_score = 0;       // loss_second - loss_first (negative: the context helps)
  double max_induction = 0;   // best head: induction score (Olsson et al.'s diagonal)
  double max_prev_token = 0;  // best head: previous-token score
};
// Evaluates `model` on `ids` (B, 2n) repeated-random-token sequences; the head scores read the
// same sequences' attention patterns. An error for a model without attention.
formation_point evaluate_formation(models::causal_lm& model, const tensor& ids, std::int64_t n);

// Per-position mean cross-entropy of logits (B, T, V) against ids shifted by one: entry t is
// the loss of predicting ids[:, t + 1] from position t (T - 1 entries). Double precision.
std::vector<double> next_token_losses(const tensor& logits, const tensor& ids);

struct formation_summary {
  double final_induction = 0, final_prev_token = 0, final_icl = 0;
  double peak_induction = 0;
  // The midpoint of each change: the first evaluated step where max_induction has covered half
  // of its way from the first point to the last (defined when the last is >= induction_threshold),
  // and where loss_second has (defined when the last is <= icl_threshold x ln V); else -1.
  std::int64_t induction_step = -1, icl_step = -1;
  // |induction_step - icl_step| / total steps when both happened, else -1.
  double lag_fraction = -1;
};
formation_summary summarize(const std::vector<formation_point>& pts, const formation_task& t, std::int64_t total_steps);

}  // namespace lmlab::interp
