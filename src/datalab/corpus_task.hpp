// The `corpus_lm` task: next-character prediction on windows of a pinned real corpus (Brown by
// default), so that the lab's default runner (train a zoo model, lab/run.hpp) can train LMs of
// several sizes N on several token budgets D for a scaling-law fit (`lmlab plan fit --store`).
// Every tenth document (by index) is held out for the test windows; the vocabulary is the
// corpus's characters. Each example is one window: input = chars[o, o+T), target =
// chars[o+1, o+T+1], at an offset o drawn from (seed, example index).
//   Inputs:  T h e _ j u r y
//   Labels:  h e _ j u r y _
// Not for: word-level models (ngram_lm.hpp), token files for `lmlab train` (data/prepare.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tasks/dataset.hpp"

namespace lmlab::datalab {

struct corpus_lm_config {
  std::string corpus = "brown";
  std::int64_t seq_len = 64;
  std::int64_t num_train = 20000;  // training windows (a run draws batches from these)
  std::int64_t num_test = 256;     // held-out windows
};

// From given documents (tests); the corpus name is only recorded.
tasks::dataset build_corpus_lm(const corpus_lm_config& c, const std::vector<std::string>& docs, std::uint64_t seed);

// Registers the task (its build loads the corpus, no network); safe to call more than once.
void register_corpus_lm_task();

}  // namespace lmlab::datalab
