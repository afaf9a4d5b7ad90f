// The `corpus_lm_length` task and its lab runner: length extrapolation of a language model
// (Press et al. 2022, ALiBi, Fig. 1). A character LM is trained on windows of T characters of a
// real corpus (corpus_lm's windows and held-out split, datalab/corpus_task.hpp) and evaluated on
// held-out windows of T, 2T, 4T ... max_factor x T (slices "len=L", difficulty L). Per slice the
// runner stores `perplexity` (exp of the mean next-character NLL over every position of the
// windows), `nll` (nats) and `accuracy` (next-character top-1). An encoding that extrapolates
// keeps its perplexity flat past T; one that does not degrades right after T.
//   train:  |<-- T -->|          evaluate:  |<-- T -->|, |<---- 2T ---->|, ...
// Training is the default runner's (lab/run.hpp train_and_evaluate); the runner then reloads
// the checkpoint and scores every window. model.n_ctx defaults to the longest window.
// Not for: the scaling-law task on one window length (corpus_lm).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tasks/dataset.hpp"

namespace lmlab::models {
class causal_lm;
}

namespace lmlab::labs {

struct lm_length_config {
  std::string corpus = "brown";
  std::int64_t seq_len = 32;     // T: the training window
  std::int64_t max_factor = 8;   // evaluate at T, 2T, ..., max_factor * T (a power of 2)
  std::int64_t num_train = 20000;
  std::int64_t num_test = 64;    // held-out windows per length
};
// max_factor must be a power of 2 (tasks::param_error naming it).
void check(const lm_length_config& c);

// From given documents (tests): corpus_lm's training windows of T and, per length, num_test
// held-out windows of that length.
tasks::dataset build_lm_length(const lm_length_config& c, const std::vector<std::string>& docs, std::uint64_t seed);

// Next-character scores of one slice, summed over every position of its windows.
struct lm_length_score {
  double nll = 0;  // nats, summed
  std::int64_t tokens = 0, correct = 0, windows = 0;
  double mean_nll() const { return tokens ? nll / static_cast<double>(tokens) : 0.0; }
  double accuracy() const { return tokens ? static_cast<double>(correct) / static_cast<double>(tokens) : 0.0; }
};
// Teacher-forced scores of `model` on ds.test, per slice (log-softmax in double).
std::map<std::string, lm_length_score> score_lm_length(models::causal_lm& model, const tasks::dataset& ds);

// Registers the task and its runner; safe to call more than once.
void register_lm_length();

}  // namespace lmlab::labs
