// Collapse loops on word n-gram LMs over a pinned real corpus (Brown by default, src/data):
// generation 1 fits the real chunks; generation n samples as many chunks from model n−1 (at a
// temperature) and refits under the workflow of collapse.hpp (replace with a real fraction,
// accumulate, accumulate_subset). Each generation is measured on real text it never trained on
// and on its own samples. The real split is fixed (documents by a pinned permutation; every
// tenth document held out), so seeds vary only the synthetic sampling.
// Not for: the n-gram model itself (ngram_lm.hpp), the store (runners.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "datalab/collapse.hpp"
#include "datalab/text_metrics.hpp"

namespace lmlab::datalab {

struct ngram_collapse_config {
  std::string corpus = "brown";
  int order = 2;
  double lambda = 0.9;            // interpolation weight of each order's counts
  int min_count = 2;              // rarer real words become <unk>
  std::int64_t real_tokens = 20000;
  std::int64_t heldout_tokens = 10000;
  int chunk = 32;                 // tokens per chunk (the unit workflows move around)
  double tail_q = 0.1;            // tail: the rarest real words holding <= this share of real tokens
  int bleu_chunks = 40;           // self-BLEU over this many generated chunks
  collapse_schedule s;            // s.samples is ignored: each generation samples real_tokens
};

struct ngram_generation {
  int generation = 0;
  double heldout_ppl = 0;       // exp(mean NLL) on held-out real text
  double heldout_nll_tail = 0;  // mean NLL of held-out tokens whose word is in the real tail
  double heldout_nll_head = 0;  // ... and of the other tokens
  double train_tokens = 0;      // size of this generation's training data
  double coverage_1 = 0;        // share of the real words (types) present in the training data
  double coverage_2 = 0;        // share of the real bigram types present
  double entropy_1 = 0;         // bits: unigram entropy of the training data (the fitted unigram)
  double tail_mass = 0;         // share of this model's samples that are real-tail words
  double tail_coverage = 0;     // share of the real-tail words (types) that occur in those samples
  double distinct_1 = 0, distinct_2 = 0, self_bleu = 0;  // of this model's samples
};

struct ngram_collapse_result {
  std::int32_t vocab = 0;             // V (words incl. <unk>)
  double real_tail_mass = 0;          // share of real training tokens in the tail
  std::vector<ngram_generation> gens;
};

// The real data, tokenised (exposed for tests): `real` and `heldout` are whole chunks.
struct ngram_corpus {
  std::vector<std::int32_t> real, heldout;
  std::vector<std::string> words;  // id -> word; words[0] = "<s>", words[1] = "<unk>"
};
ngram_corpus prepare_ngram_corpus(const std::vector<std::string>& train_docs, const std::vector<std::string>& heldout_docs,
                                  const ngram_collapse_config& c);

// Loads the corpus (no network: an unfetched corpus is an error saying how to fetch it) and
// splits it: documents in a pinned order (not the run seed), every tenth held out.
ngram_corpus load_ngram_corpus(const ngram_collapse_config& c);
ngram_collapse_result run_ngram_collapse(const ngram_collapse_config& c, std::uint64_t seed);
// The same on given documents (tests).
ngram_collapse_result run_ngram_collapse(const ngram_corpus& corpus, const ngram_collapse_config& c, std::uint64_t seed);

// Helpers shared with the neural loop (lm_collapse.cpp), over flat token vectors of whole
// chunks of `len`:
std::uint64_t pair_key(std::int32_t a, std::int32_t b);
// the bigram types inside chunks (no pair crosses a chunk boundary);
std::unordered_set<std::uint64_t> bigram_types(const std::vector<std::int32_t>& tokens, std::size_t len);
// the real data's word and bigram types, against which each generation's training data is
// measured;
struct real_types {
  std::unordered_set<std::uint64_t> bigrams;
  std::vector<bool> word;  // over the vocabulary
  double n_words = 0;      // how many words occur
};
real_types real_types_of(const std::vector<std::int32_t>& real, std::int32_t vocab, std::size_t len);
// a generation's training data `data` (`tokens` tokens, unigram counts `uni`): the share of the
// real words and bigram types it holds, and its unigram entropy in bits;
struct data_coverage {
  double coverage_1 = 0, entropy_1 = 0, coverage_2 = 0;
};
data_coverage measure_training_data(const std::vector<std::int32_t>& data, const std::vector<std::int64_t>& uni, double tokens,
                                    std::size_t len, const real_types& real);
// the first `max_chunks` chunks as sequences;
std::vector<token_seq> as_chunks(const std::vector<std::int32_t>& tokens, std::size_t len, std::size_t max_chunks);
// the real tail's word ids (rarest_ngrams over unigrams at q) as a mask over the vocabulary;
// `mass` gets the tail's share of the real tokens.
std::vector<bool> tail_mask(const std::vector<std::int32_t>& real, std::int32_t vocab, double q, double& mass);
// the measures of a model's samples (`synth`, n_chunks chunks): tail_mass, tail_coverage,
// distinct_1/2 and self-BLEU-4 over the first `bleu_chunks` chunks.
void measure_samples(const std::vector<std::int32_t>& synth, std::size_t len, std::size_t n_chunks, const std::vector<bool>& tail,
                     int bleu_chunks, ngram_generation& m);

}  // namespace lmlab::datalab
