// The `ttc_arithmetic` task and runner: test-time compute on the lab's base-b arithmetic task.
// A run trains a zoo model on the task exactly as the default runner does (lab/run.hpp: the
// usual metrics, checkpoint and greedy test accuracy), reloads its checkpoint, then samples
// n answers per in-distribution test item at a temperature and scores, for k = 1, 2, 4, ... n:
//   pass      pass@k (Chen et al. 2021 unbiased estimator; the gold verifier's best-of-k)
//   majority  majority vote over k samples (self-consistency)
//   weighted  vote weighted by the model's probability of each sampled answer
//   best_of   the single sample the model itself rates most likely (its log-probability as
//             the verifier)
//   learned   with verifier_steps > 0: the single sample a learned verifier rates highest — a
//             fresh model of the same [model] trained for verifier_steps on the generator's own
//             samples for verifier_items training problems, labelled right/wrong by the gold
//             answer (an outcome reward model, Cobbe et al. 2021); slice "verifier" logs the
//             share of right samples it trained on
// plus `flops_per_item`: k × (prompt + answer tokens) × the model's forward FLOPs per token.
// Evaluations: split "test", slice "k=K". The task takes every arithmetic key plus n_samples,
// temperature, draws, eval_items, verifier_steps and verifier_items.
// Not for: the aggregation maths (ttc.hpp), served models (probe/).
#pragma once

namespace lmlab::datalab {

void register_ttc();

}  // namespace lmlab::datalab
