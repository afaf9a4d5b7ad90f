// A word n-gram language model with Jelinek-Mercer interpolation, small enough to refit every
// generation of a collapse loop: p_k(w | h) = λ·c(h w)/c(h) + (1 − λ)·p_{k−1}(w | h') when the
// context h was seen (else p_{k−1}), p_0(w) = 1/V over the V generable ids.
// ref: Jelinek & Mercer 1980; Chen & Goodman 1999, "An empirical study of smoothing
// techniques for language modeling", eq. (6).
// Token ids: 0 is the start-of-chunk context <s> (never generated), 1..V are words (<unk> among
// them). Sampling at temperature T draws from p^(1/T), renormalised over the V words.
// Not for: training data workflows (ngram_collapse.hpp), tokenisation (text_metrics.hpp).
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "core/rng.hpp"

namespace lmlab::datalab {

class ngram_lm {
 public:
  // `vocab` = V + 1 ids (id 0 = <s>); order >= 1 (1: unigram); lambda in (0, 1).
  ngram_lm(int order, std::int32_t vocab, double lambda);

  // Counts every token of every chunk (each chunk starts after <s> padding).
  void fit(std::span<const std::int32_t> tokens, std::size_t chunk_len);

  // p(w | the order−1 tokens before position i of `chunk`) for w in 1..V.
  double prob(std::span<const std::int32_t> chunk, std::size_t i) const;
  // Mean −log p (nats) of every token of every chunk.
  double mean_nll(std::span<const std::int32_t> tokens, std::size_t chunk_len) const;
  // One chunk of `len` tokens.
  std::vector<std::int32_t> sample(std::size_t len, double temperature, rng& g) const;

  // Unigram MLE counts (index = id) of the data last fitted.
  const std::vector<std::int64_t>& unigram_counts() const { return unigram_; }
  int order() const { return order_; }

 private:
  struct continuation {
    std::int64_t total = 0;
    std::vector<std::pair<std::int32_t, std::int64_t>> next;  // sorted by id
  };
  std::uint64_t context_key(std::span<const std::int32_t> chunk, std::size_t i, int k) const;
  const continuation* find(int k, std::uint64_t key) const;
  std::int32_t sample_fast(std::span<const std::int32_t> chunk, std::size_t i, rng& g) const;

  int order_;
  std::int32_t vocab_;
  double lambda_;
  std::vector<std::unordered_map<std::uint64_t, continuation>> ctx_;  // [k−1]: contexts of order k
  std::vector<std::int64_t> unigram_;
};

}  // namespace lmlab::datalab
