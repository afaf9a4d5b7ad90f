// The `ttc_arithmetic` task and runner: test-time compute on the lab's base-b arithmetic task.
// A run trains a zoo model on the task exactly as the default runner does (lab/run.hpp: the
// usual metrics, checkpoint and greedy test accuracy), reloads its checkpoint, then samples
// n answers per in-distribution test item at a temperature and scores, for k = 1, 2, 4, ... n:
//   pass      pass@k (Chen et al. 2021 unbiased estimator; the gold verifier's best-of-k)
//   majority  majority vote over k samples (self-consistency)
//   weighted  vote weighted by the model's probability of each sampled answer
//   best_of   the single sample the model itself rates most likely (its log-probability as
//             the verifier)
//   uninformed  best-of-k by a score with no information (1 / distinct answers when the right
//             one is among them; ttc.hpp)
//   learned   with verifier_steps > 0: the single sample the first learned verifier in
//             `verifiers` rates highest (learned_<kind> for every kind; ttc_verifier.hpp: each
//             trained for verifier_steps at verifier_lr on the generator's own samples for
//             verifier_items training problems, labelled right/wrong by the gold answer)
//   learned_vote  the vote weighted by that verifier (learned_vote_<kind> for every kind)
// plus `flops_per_item`: k × (prompt + answer tokens) × the model's forward FLOPs per token.
// Slice "verifier" logs each kind's and the references' (logp, length) ranking AUCs: pooled,
// within items, same-length, ties (<kind>_auc_pooled, ...), and the right share it trained on.
// Evaluations: split "test", slice "k=K". The task takes every arithmetic key plus n_samples,
// temperature, draws, eval_items, verifier_steps, verifier_items, verifiers and verifier_lr.
// Not for: the aggregation maths (ttc.hpp), served models (probe/).
#pragma once

namespace lmlab::datalab {

void register_ttc();

}  // namespace lmlab::datalab
