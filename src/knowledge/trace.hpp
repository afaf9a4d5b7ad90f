// Where a trained lab model reads a fact: a resample ablation of each block's MLP output at the
// subject's last token (the intervention behind Meng et al. 2022's causal tracing, §2; they
// corrupt the subject and restore one state, we replace one state by another subject's, which
// asks the same question of necessity without a noise scale). For a question "which company
// employs opal vance ?" whose unedited answer is `a`, block L's MLP output at "vance" is replaced
// by its output at another QA person's last name in that person's question, and p(a) is read
// again; the block whose replacement lowers p(a) most is where the subject's fact is stored, and
// the one a rank-one edit should change (ROME edits the layer its tracing picks, §3).
// Only blocks before the last are traced: the last block's MLP at the subject reaches no later
// position. Not for: the edit itself (rome.hpp), patching in general (interp/).
#pragma once

#include <cstdint>
#include <vector>

#include "knowledge/kb.hpp"
#include "models/lm.hpp"

namespace lmlab::knowledge {

struct subject_trace {
  double clean = 0;             // mean p(own answer) over the questions
  std::vector<double> ablated;  // per block L < n_layers - 1: mean p(own answer) with L's MLP output resampled
  std::int64_t questions = 0;
  // The block whose resampling lowers p(own answer) most.
  std::int64_t most_used() const;
};

// `people`: the QA people (at least 2, distinct names); question q asks people[q mod n] about
// attribute q mod 5 and resamples from people[(q + 1) mod n]'s question about the same attribute.
subject_trace trace_subject_mlps(models::lm& model, const tasks::vocabulary& vocab, const std::vector<person>& people,
                                 std::int64_t questions);

}  // namespace lmlab::knowledge
