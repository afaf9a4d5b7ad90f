// The data lab's tasks and lab runners (lab/runner.hpp): a spec names one of these tasks and
// each run is a whole collapse loop, logged to the store generation by generation.
//   collapse_gaussian  d-dimensional Gaussian refitted by maximum likelihood (collapse.hpp)
//   collapse_mixture   1-D three-component Gaussian mixture refitted by EM
//   collapse_ngram     word n-gram LM on a pinned corpus (ngram_collapse.hpp)
// the dataset task corpus_lm (corpus_task.hpp), which the lab's default runner trains, and
// ttc_arithmetic (ttc_runner.hpp), test-time compute on a trained arithmetic model.
// Every generation's values are run metrics (step = generation) and test evaluations at slice
// "gen=N"; slice "all" holds the last generation and "half" generation ⌈G/2⌉, so [expect] rules read `var_ratio`,
// `heldout_ppl`, ... directly. Not for: the loops themselves.
#pragma once

namespace lmlab::datalab {

// Registers the tasks and runners; safe to call more than once.
void register_datalab();

}  // namespace lmlab::datalab
