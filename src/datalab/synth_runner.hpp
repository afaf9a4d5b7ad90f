// The `synth_verified` task and runner: does verified synthetic data replace real data?
// One run (one seed) does the whole pipeline on chained arithmetic (synth_verify.hpp):
//   1. real data: `n_real` problems (ops_min..ops_max operations) with gold step-by-step solutions;
//   2. a teacher: a zoo model ([model]) trained on the real data for `teacher_steps`;
//   3. synthetic data: the teacher solves `n_synth` new problems, one sample each at
//      `teacher_temperature`; the step verifier keeps the solutions whose every step checks out;
//   4. students, each a fresh model of the same [model] trained for train.steps on:
//        real             the real data only
//        synth_all        every teacher solution (unverified)
//        synth_verified   the verified teacher solutions only
//        mix_all          real + every teacher solution
//        mix_verified     real + the verified teacher solutions
//   5. every student (and the teacher) solves held-out problems greedily: in distribution
//      (slice "id": ops_min..ops_max operations) and out of it (slice "ood": ood_ops operations).
// Evaluations (split "test"): slice "id"/"ood", metrics acc_<student> (final answer right) and
// steps_<student> (every step verified), acc_teacher, steps_teacher; slice "synth": the teacher's
// synthetic data — answer_rate (right answers), verified_rate, lucky_rate (right answer, some
// step wrong), verifier_precision (right answers among the verified: 1 by construction) and
// examples_<student> (training examples). Test problems never occur in any training set.
// ref: the loop follows STaR / rejection-sampling fine-tuning (Zelikman et al. 2022, "STaR";
// Yuan et al. 2023, arXiv 2308.01825): keep the model's own solutions that a checker accepts.
// Not for: the generator and verifier (synth_verify.hpp).
#pragma once

namespace lmlab::datalab {

void register_synth();

}  // namespace lmlab::datalab
