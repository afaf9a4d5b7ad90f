// The knowledge lab's tasks and runners (lab/runner.hpp), registered by register_knowledge():
//   biographies    (kb.hpp) runner: pretrain on biographies then fine-tune on QA (or both
//                  mixed); accuracy per slice (qa_seen/*, storage/*, extract/*), and linear
//                  probes of each attribute from the hidden state at the person's last name
//                  (evaluation metric probe_accuracy, slices name/<attr>), with interp's
//                  probe-with-control harness; abstention (metric abstain per slice: the
//                  share of "unknown" answers) and the calibration of the QA answers (slice qa:
//                  ece, brier, mean_confidence, accuracy) with analysis/calibration.hpp.
//   reversal       (relations.hpp) runner: train on the statements; accuracy per slice
//                  (forward, both_reverse, reverse), and the log-probability of the correct
//                  name against num_random other names (metrics logprob_gap, rank on slices
//                  forward and reverse).
//                  With task.reliability_bins > 0 the question accuracy is sliced by
//                  confidence bin instead (the reliability diagram; exact_match@qa_seen).
//   kv_position    (context.hpp) a dataset only: the default lab run trains and scores it.
//   kb_context     (retrieval.hpp) runner: train on facts at several frequencies plus
//                  passage reading (mixed); accuracy per slice (closed/agree/conflict/missing
//                  per frequency, novel/*), each answer's label from the shared hallucination
//                  classifier (analysis/hallucination.hpp; metrics correct, abstention,
//                  intrinsic, fabricated, extrinsic per slice), and on slices whose passage
//                  states a value for a known person, follow_context and follow_memory.
//   knowledge_edit (the biographies keys + edit keys) runner: train as biographies, then edit
//                  facts of QA people with the rank-one MLP edit (rome.hpp) and, for comparison,
//                  by fine-tuning the same matrix; metrics efficacy, paraphrase, specificity on
//                  slices rome and finetune (none: the unedited model); value_prob and
//                  key_gain (rome), and a resample ablation of the subject's MLP output
//                  (answer_prob, answer_prob_subject_mlp_resampled on slice none).
// A runner's training phases take train.steps (a step budget only) and the shared [train] keys.
// Runs of these runners are short and restart from the beginning when interrupted (no
// mid-run checkpoint); a finished run is skipped on rerun like any other.
// Not for: the generators, the edit itself (rome.hpp), the CLI (src/cli/knowledge.cpp).
#pragma once

#include <cstdint>

#include "knowledge/kb.hpp"

namespace lmlab::knowledge {

struct edit_config : kb_config {
  std::int64_t num_edits = 20;
  std::int64_t layer = 0;          // < 0 counts from the last block
  double ridge = 1e-2;             // λ: C + λ·mean(diag C)·I
  std::int64_t value_steps = 40;   // Adam steps on δ (v*)
  double value_lr = 0.1;
  double value_l2 = 1e-3;
  std::int64_t finetune_edit_steps = 20;  // the fine-tuning comparison: steps on the one fact
  double finetune_edit_lr = 1e-2;
  std::int64_t num_neighbours = 10;  // other QA people asked the same attribute
  std::int64_t trace_questions = 0;  // > 0: the subject-MLP trace over blocks (trace.hpp) on this many questions
  std::string layer_select = "fixed";  // "traced": edit the block the trace finds most used (needs trace_questions)
};
const tasks::param_table<edit_config>& edit_params();
void check(const edit_config& c);

// Registers the tasks and runners above (idempotent).
void register_knowledge();

}  // namespace lmlab::knowledge
