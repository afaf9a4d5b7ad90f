// Collapse loops on small neural LMs (a zoo GPT, models/lm.hpp) over a pinned real corpus:
// the word-level data of the n-gram loop (ngram_collapse.hpp: the same vocabulary, chunks,
// held-out split and tail), but each generation trains a freshly initialised transformer for a
// fixed number of AdamW steps (batches of whole chunks, each input prefixed by <s>), then
// samples as many chunks as the real data has at a temperature; the workflows of collapse.hpp
// (replace with a real fraction, accumulate, accumulate_subset) build the next generation's
// data. Measured per generation as for the n-gram LM: held-out real perplexity, split into the
// real-tail words and the rest; coverage of the real words and bigrams by the training data;
// tail mass, tail-type coverage, distinct-1/2 and self-BLEU of the samples; plus the final
// training loss.
// ref: Shumailov et al. 2024 (Nature 631) train OPT-125m generation after generation on
// wikitext2 (fine-tuning, not from scratch); Gerstgrasser et al. 2024 (arXiv 2404.01413) train
// GPT-2 / Llama-2 style models from scratch on TinyStories under replace and accumulate.
// Not for: the data split and metrics themselves (ngram_collapse.hpp), the store (runners.cpp).
#pragma once

#include <cstdint>
#include <vector>

#include "datalab/ngram_collapse.hpp"
#include "models/lm_config.hpp"
#include "train/config.hpp"

namespace lmlab::datalab {

struct lm_collapse_config {
  ngram_collapse_config data;  // corpus, min_count, real/heldout tokens, chunk, tail_q, schedule (order, lambda unused)
  models::lm_config model;     // vocab_size and n_ctx are set from the corpus and the chunk
  train::optim_config optim;   // steps per generation, batch_size, lr, ...; seq_len unused
};

struct lm_generation : ngram_generation {
  double train_loss = 0;  // mean training loss over the last 10% of this generation's steps
};

struct lm_collapse_result {
  std::int32_t vocab = 0;       // V (words incl. <unk>; <s> not counted)
  double real_tail_mass = 0;
  std::int64_t n_params = 0;
  std::vector<lm_generation> gens;
};

// On a prepared corpus (tests give a small one; the runner loads it with load_ngram_corpus).
lm_collapse_result run_lm_collapse(const ngram_corpus& corpus, const lm_collapse_config& c, std::uint64_t seed);

}  // namespace lmlab::datalab
