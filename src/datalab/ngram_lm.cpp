// Interpolated word n-gram LM: see ngram_lm.hpp.
#include "datalab/ngram_lm.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.hpp"

namespace lmlab::datalab {

ngram_lm::ngram_lm(int order, std::int32_t vocab, double lambda) : order_(order), vocab_(vocab), lambda_(lambda) {
  LMLAB_CHECK(order >= 1 && order <= 3, "ngram_lm: order must be 1-3, got {}", order);
  LMLAB_CHECK(vocab >= 2 && vocab < (1 << 21), "ngram_lm: vocabulary must be 2..2^21 ids, got {}", vocab);
  LMLAB_CHECK(lambda > 0 && lambda < 1, "ngram_lm: lambda must be in (0, 1), got {}", lambda);
}

// The k−1 ids before position i (<s> = 0 before the chunk start), 21 bits each.
std::uint64_t ngram_lm::context_key(std::span<const std::int32_t> chunk, std::size_t i, int k) const {
  std::uint64_t key = 0;
  for (int j = 1; j < k; ++j) {
    const std::int32_t id = i >= static_cast<std::size_t>(j) ? chunk[i - static_cast<std::size_t>(j)] : 0;
    key = (key << 21) | static_cast<std::uint64_t>(id);
  }
  return key;
}

void ngram_lm::fit(std::span<const std::int32_t> tokens, std::size_t chunk_len) {
  LMLAB_CHECK(chunk_len >= 1 && tokens.size() % chunk_len == 0, "ngram_lm: {} tokens are not whole chunks of {}",
              tokens.size(), chunk_len);
  std::vector<std::unordered_map<std::uint64_t, std::map<std::int32_t, std::int64_t>>> counts(static_cast<std::size_t>(order_));
  unigram_.assign(static_cast<std::size_t>(vocab_), 0);
  for (std::size_t c = 0; c < tokens.size(); c += chunk_len) {
    const auto chunk = tokens.subspan(c, chunk_len);
    for (std::size_t i = 0; i < chunk_len; ++i) {
      LMLAB_CHECK(chunk[i] >= 1 && chunk[i] < vocab_, "ngram_lm: token id {} out of range 1..{}", chunk[i], vocab_ - 1);
      ++unigram_[static_cast<std::size_t>(chunk[i])];
      for (int k = 1; k <= order_; ++k) ++counts[static_cast<std::size_t>(k - 1)][context_key(chunk, i, k)][chunk[i]];
    }
  }
  ctx_.assign(static_cast<std::size_t>(order_), {});
  for (int k = 0; k < order_; ++k)
    for (auto& [key, m] : counts[static_cast<std::size_t>(k)]) {
      continuation& c = ctx_[static_cast<std::size_t>(k)][key];
      for (const auto& [w, n] : m) c.next.emplace_back(w, n), c.total += n;
    }
}

const ngram_lm::continuation* ngram_lm::find(int k, std::uint64_t key) const {
  const auto& m = ctx_[static_cast<std::size_t>(k - 1)];
  const auto it = m.find(key);
  return it == m.end() ? nullptr : &it->second;
}

double ngram_lm::prob(std::span<const std::int32_t> chunk, std::size_t i) const {
  const std::int32_t w = chunk[i];
  double p = 1.0 / static_cast<double>(vocab_ - 1);
  for (int k = 1; k <= order_; ++k) {
    const continuation* c = find(k, context_key(chunk, i, k));
    if (!c) continue;
    const auto it = std::lower_bound(c->next.begin(), c->next.end(), std::make_pair(w, std::int64_t{0}));
    const double ml = it != c->next.end() && it->first == w ? static_cast<double>(it->second) / static_cast<double>(c->total) : 0.0;
    p = lambda_ * ml + (1 - lambda_) * p;
  }
  return p;
}

double ngram_lm::mean_nll(std::span<const std::int32_t> tokens, std::size_t chunk_len) const {
  LMLAB_CHECK(!tokens.empty() && tokens.size() % chunk_len == 0, "ngram_lm: {} tokens are not whole chunks of {}",
              tokens.size(), chunk_len);
  double s = 0;
  for (std::size_t c = 0; c < tokens.size(); c += chunk_len)
    for (std::size_t i = 0; i < chunk_len; ++i) s -= std::log(prob(tokens.subspan(c, chunk_len), i));
  return s / static_cast<double>(tokens.size());
}

// T = 1: the interpolation is a mixture, so pick the order first (highest seen context with
// probability λ, else one order down), then a word from that order's counts.
std::int32_t ngram_lm::sample_fast(std::span<const std::int32_t> chunk, std::size_t i, rng& g) const {
  for (int k = order_; k >= 1; --k) {
    const continuation* c = find(k, context_key(chunk, i, k));
    if (!c || g.uniform() >= lambda_) continue;
    std::int64_t r = static_cast<std::int64_t>(g.below(static_cast<std::uint64_t>(c->total)));
    for (const auto& [w, n] : c->next)
      if ((r -= n) < 0) return w;
  }
  return 1 + static_cast<std::int32_t>(g.below(static_cast<std::uint64_t>(vocab_ - 1)));
}

std::vector<std::int32_t> ngram_lm::sample(std::size_t len, double temperature, rng& g) const {
  LMLAB_CHECK(temperature > 0, "ngram_lm: temperature must be > 0, got {}", temperature);
  LMLAB_CHECK(!ctx_.empty(), "ngram_lm: sample before fit");
  std::vector<std::int32_t> out(len, 0);
  std::vector<double> p(static_cast<std::size_t>(vocab_));
  for (std::size_t i = 0; i < len; ++i) {
    if (temperature == 1.0) {
      out[i] = sample_fast(out, i, g);
      continue;
    }
    // The full distribution, raised to 1/T.
    std::fill(p.begin() + 1, p.end(), 1.0 / static_cast<double>(vocab_ - 1));
    for (int k = 1; k <= order_; ++k) {
      const continuation* c = find(k, context_key(out, i, k));
      if (!c) continue;
      for (std::size_t w = 1; w < p.size(); ++w) p[w] *= 1 - lambda_;
      for (const auto& [w, n] : c->next) p[static_cast<std::size_t>(w)] += lambda_ * static_cast<double>(n) / static_cast<double>(c->total);
    }
    double z = 0;
    for (std::size_t w = 1; w < p.size(); ++w) z += (p[w] = std::pow(p[w], 1 / temperature));
    double r = g.uniform() * z;
    std::int32_t pick = vocab_ - 1;
    for (std::size_t w = 1; w < p.size(); ++w)
      if ((r -= p[w]) < 0) {
        pick = static_cast<std::int32_t>(w);
        break;
      }
    out[i] = pick;
  }
  return out;
}

}  // namespace lmlab::datalab
