// A learned verifier of step-by-step chain solutions (synth_verify.hpp): a small causal model
// reads problem + solution and predicts, at label positions, "1" (fine so far) or "0".
//   process  a label after every step (at its ";") — 1 while every step so far checks out —
//            and one after the solution's last token: 1 when the whole solution is verified
//            (a process reward model, Lightman et al. 2023, "Let's Verify Step by Step"; the
//            step labels come from the exact step checker, as Math-Shepherd's come from automatic
//            rollouts rather than people: Wang et al. 2024, arXiv:2312.08935)
//   outcome  one label after the last token: 1 when the final answer is right (Cobbe et al.
//            2021's outcome verifier, arXiv:2110.14168)
//   step_likelihood  a generative verifier: a model trained by next-token loss on right
//            solutions only; a step's (and the final "#dd" segment's) score is the smallest
//            log-probability it gives one of the step's tokens, plus log 2, so a step is
//            accepted when the verifier finds each of its tokens more likely than not (the
//            generative verifiers of Zhang et al. 2024, arXiv:2408.15240, score by next-token
//            probability too)
// For process and outcome a label position's score is logit("1") − logit("0"); a solution's score is its weakest
// position (min over steps, the PRM aggregation of Lightman et al.), and it is accepted when
// that score is > 0. The first step whose score is <= 0 is the step the verifier flags.
// Training negatives: the teacher's own wrong samples and perturbed gold solutions (one step's
// result replaced by a wrong value, later steps carrying on from it).
// Not for: the exact checker (synth_verify.hpp), training loops (small_train.hpp).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "datalab/small_train.hpp"
#include "datalab/synth_verify.hpp"
#include "models/lm.hpp"

namespace lmlab::datalab {

enum class chain_verifier_kind { process, outcome, step_likelihood };
chain_verifier_kind chain_verifier_kind_from(const std::string& name);  // "process" | "outcome" | "step_likelihood"

// The gold solution with step `step`'s result replaced by `wrong` (!= the right result, 0..99)
// and every later step computed from what was written (results wrapped into 0..99).
std::vector<std::int32_t> perturbed_solution(const chain_problem& p, int step, int wrong);
// A random perturbation of one random step (the wrong value uniform over 0..max_value without
// the right one); `step` gets the perturbed step when not null.
std::vector<std::int32_t> random_perturbation(const chain_problem& p, rng& g, int max_value, int* step = nullptr);

// Label positions of a solution, as indices into problem_tokens(p) + solution: the position of
// every ";" (not for outcome) and of the last token; for step_likelihood each closes a segment.
std::vector<std::size_t> chain_label_positions(const chain_problem& p, const std::vector<std::int32_t>& solution,
                                               chain_verifier_kind kind);
// One training sequence: input problem + solution, targets "1"/"0" at the label positions
// (process: step j's label is 1 iff the checker finds steps 0..j valid; the last is verified()),
// ignore_index elsewhere. step_likelihood: next-token targets on the solution (train it on
// right solutions only).
token_example chain_verifier_example(const chain_problem& p, const std::vector<std::int32_t>& solution, chain_verifier_kind kind);

// Scores at the label positions of each (problem, solution), batched; model in eval mode.
std::vector<std::vector<double>> chain_label_scores(models::causal_lm& model, const std::vector<chain_problem>& ps,
                                                    const std::vector<std::vector<std::int32_t>>& sols, chain_verifier_kind kind);
double chain_solution_score(const std::vector<double>& label_scores);  // the minimum (−inf when none)
// The index of the first label scored <= 0 (steps 0..k−1, then k for the final label), −1 if none.
int first_flagged(const std::vector<double>& label_scores);

}  // namespace lmlab::datalab
