// Diversity and quality metrics of a set of documents (generated or real), over word ids:
// distinct-n and self-BLEU (analysis/stats.hpp holds those two), n-gram entropy, tail mass
// against a reference's rarest n-grams, MinHash near-duplicate rate, zlib compression ratio,
// and `text_stats`, which computes all of them for `lmlab datalab stats`.
// Not for: reading files (the CLI does), language models (ngram_lm.hpp).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "analysis/stats.hpp"

namespace lmlab::datalab {

using analysis::token_seq;

// ---- words -----------------------------------------------------------------------------

// Word tokens: lower-cased runs of ASCII letters, digits and apostrophes, plus every other
// non-space byte as a token of its own ("Don't stop." -> don't, stop, .). Bytes >= 0x80
// (UTF-8) count as letters, so a non-ASCII word stays whole.
std::vector<std::string> word_tokens(std::string_view text);

// word <-> id, ids dense from 0 in order of first sight.
class vocabulary {
 public:
  std::int32_t add(const std::string& w);
  // -1 when absent.
  std::int32_t find(const std::string& w) const;
  const std::string& word(std::int32_t id) const { return words_.at(static_cast<std::size_t>(id)); }
  std::size_t size() const { return words_.size(); }

 private:
  std::unordered_map<std::string, std::int32_t> ids_;
  std::vector<std::string> words_;
};

// Each text as word ids (word_tokens), adding new words to `vocab`.
std::vector<token_seq> to_word_ids(std::span<const std::string> texts, vocabulary& vocab);

// ---- n-gram counts, entropy, tail ------------------------------------------------------

// The n-grams of every sequence (a sequence shorter than n contributes none), keyed by the
// n ids' bytes.
using ngram_count_map = std::unordered_map<std::string, std::int64_t>;
ngram_count_map count_ngrams(std::span<const token_seq> seqs, int n);

// Shannon entropy in bits of the pooled n-gram distribution: -sum p log2 p, p = count / total.
// 0 when there are no n-grams.
double ngram_entropy(std::span<const token_seq> seqs, int n);

// The rarest n-grams of a reference: every n-gram whose reference count is at most
// `max_count`, where max_count is the largest count c such that the n-grams with count <= c
// hold at most a fraction q of the reference's n-gram occurrences (whole count classes only,
// so no tie is split), but at least the rarest class (count 1, usually), even when that alone
// holds more than q (bigram hapaxes often do). `reference_mass` is the tail's share of the
// reference itself: compare a sample's tail_mass with it.
struct tail_set {
  int n = 1;
  double q = 0;
  std::int64_t max_count = 0;   // 0 only for an empty reference
  double reference_mass = 0;
  std::unordered_set<std::string> grams;
};
tail_set rarest_ngrams(std::span<const token_seq> reference, int n, double q);
// The fraction of the n-grams of `seqs` that are in the tail (0 when seqs have none).
double tail_mass(std::span<const token_seq> seqs, const tail_set& tail);

// ---- near duplicates -------------------------------------------------------------------

struct minhash_options {
  int shingle = 5;          // words per shingle (a document shorter than this is one shingle)
  int permutations = 128;   // hash functions; a multiple of band_rows
  int band_rows = 4;        // LSH: candidate pairs share a band of this many rows
  double threshold = 0.8;   // estimated Jaccard at or above which two documents are near-duplicates
  std::uint64_t seed = 0;
};

// The document's shingles hashed to 64 bits, sorted, unique (empty for an empty document).
std::vector<std::uint64_t> shingle_set(const token_seq& doc, int shingle);
// |a ∩ b| / |a ∪ b| of two sorted unique sets (0 when both are empty).
double jaccard(std::span<const std::uint64_t> a, std::span<const std::uint64_t> b);
// MinHash signature: for each of `permutations` hash functions h(x) = (a·x + b) mod (2^61 − 1),
// the minimum over the set. ref: Broder 1997, "On the resemblance and containment of documents".
std::vector<std::uint64_t> minhash_signature(std::span<const std::uint64_t> set, int permutations, std::uint64_t seed);
// Fraction of equal signature entries: an unbiased estimate of the Jaccard similarity.
double signature_similarity(std::span<const std::uint64_t> a, std::span<const std::uint64_t> b);

// The fraction of non-empty documents that have at least one other document whose estimated
// Jaccard similarity of shingle sets is >= threshold. Candidates come from LSH banding
// (permutations / band_rows bands; ref: Leskovec, Rajaraman, Ullman, Mining of Massive
// Datasets, sec. 3.4), each checked on the full signature.
double near_duplicate_rate(std::span<const token_seq> docs, const minhash_options& opt = {});
// The same with exact Jaccard over all pairs (O(docs²); the reference for tests).
double exact_near_duplicate_rate(std::span<const token_seq> docs, int shingle, double threshold);

// ---- compression -----------------------------------------------------------------------

// Raw bytes / zlib-compressed bytes (zlib format, compress2 at `level`); 0 for empty text.
// Repetitive text compresses well (high ratio); English prose is around 2.5-3 at level 9.
double compression_ratio(std::string_view text, int level = 9);

// ---- all of them -----------------------------------------------------------------------

struct stats_options {
  int n = 2;                  // order of distinct-n, entropy and tail
  double tail_q = 0.1;        // tail: the rarest reference n-grams holding <= this mass
  int bleu_docs = 100;        // self-BLEU over the first this many non-empty documents
  int bleu_order = 4;
  minhash_options minhash;
};

struct text_stats {
  std::size_t documents = 0, tokens = 0, bytes = 0;
  double distinct_1 = 0, distinct_n = 0;
  double entropy_1 = 0, entropy_n = 0;  // bits
  double self_bleu = 0;                 // NaN with fewer than 2 documents
  double tail_mass = 0;                 // NaN without a reference
  double reference_tail_mass = 0;       // NaN without a reference
  double near_duplicate_rate = 0;
  double compression_ratio = 0;
};

// `reference` may be empty (no tail mass). Both are tokenised with one shared vocabulary.
text_stats compute_text_stats(std::span<const std::string> docs, std::span<const std::string> reference,
                              const stats_options& opt = {});

}  // namespace lmlab::datalab
