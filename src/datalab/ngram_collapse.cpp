// Collapse loops on word n-gram LMs: see ngram_collapse.hpp.
#include "datalab/ngram_collapse.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_set>

#include "core/error.hpp"
#include "data/corpus.hpp"
#include "datalab/ngram_lm.hpp"
#include "datalab/text_metrics.hpp"

namespace lmlab::datalab {

namespace {

// Whole chunks of word tokens, document by document, until `limit` tokens.
std::vector<std::vector<std::string>> word_chunks(const std::vector<std::string>& docs, std::size_t len, std::int64_t limit) {
  std::vector<std::vector<std::string>> out;
  std::int64_t have = 0;
  for (const auto& d : docs) {
    const auto w = word_tokens(d);
    for (std::size_t i = 0; i + len <= w.size() && have + static_cast<std::int64_t>(len) <= limit; i += len) {
      out.emplace_back(w.begin() + static_cast<std::ptrdiff_t>(i), w.begin() + static_cast<std::ptrdiff_t>(i + len));
      have += static_cast<std::int64_t>(len);
    }
    if (have + static_cast<std::int64_t>(len) > limit) break;
  }
  return out;
}

}  // namespace

std::uint64_t pair_key(std::int32_t a, std::int32_t b) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
}

std::unordered_set<std::uint64_t> bigram_types(const std::vector<std::int32_t>& tokens, std::size_t len) {
  std::unordered_set<std::uint64_t> s;
  for (std::size_t c = 0; c < tokens.size(); c += len)
    for (std::size_t i = c + 1; i < c + len; ++i) s.insert(pair_key(tokens[i - 1], tokens[i]));
  return s;
}

real_types real_types_of(const std::vector<std::int32_t>& real, std::int32_t vocab, std::size_t len) {
  real_types r;
  r.bigrams = bigram_types(real, len);
  r.word.assign(static_cast<std::size_t>(vocab), false);
  for (auto w : real) r.word[static_cast<std::size_t>(w)] = true;
  r.n_words = static_cast<double>(std::count(r.word.begin(), r.word.end(), true));
  return r;
}

data_coverage measure_training_data(const std::vector<std::int32_t>& data, const std::vector<std::int64_t>& uni, double tokens,
                                    std::size_t len, const real_types& real) {
  data_coverage d;
  double covered = 0, h = 0;
  for (std::size_t w = 1; w < uni.size(); ++w) {
    if (uni[w] > 0 && real.word[w]) ++covered;
    if (uni[w] > 0) {
      const double p = static_cast<double>(uni[w]) / tokens;
      h -= p * std::log2(p);
    }
  }
  d.coverage_1 = covered / real.n_words;
  d.entropy_1 = h;
  const auto bi = bigram_types(data, len);
  double bi_cov = 0;
  for (auto k : real.bigrams) bi_cov += static_cast<double>(bi.count(k));
  d.coverage_2 = bi_cov / static_cast<double>(real.bigrams.size());
  return d;
}

std::vector<token_seq> as_chunks(const std::vector<std::int32_t>& tokens, std::size_t len, std::size_t max_chunks) {
  std::vector<token_seq> out;
  for (std::size_t c = 0; c + len <= tokens.size() && out.size() < max_chunks; c += len)
    out.emplace_back(tokens.begin() + static_cast<std::ptrdiff_t>(c), tokens.begin() + static_cast<std::ptrdiff_t>(c + len));
  return out;
}

// The ids of the real tail (rarest_ngrams over unigrams) as a mask.
std::vector<bool> tail_mask(const std::vector<std::int32_t>& real, std::int32_t vocab, double q, double& mass) {
  const tail_set t = rarest_ngrams(std::vector<token_seq>{token_seq(real.begin(), real.end())}, 1, q);
  mass = t.reference_mass;
  std::vector<bool> m(static_cast<std::size_t>(vocab), false);
  for (const auto& g : t.grams) {
    std::int32_t id = 0;
    std::memcpy(&id, g.data(), sizeof id);
    m[static_cast<std::size_t>(id)] = true;
  }
  return m;
}

void measure_samples(const std::vector<std::int32_t>& synth, std::size_t len, std::size_t n_chunks, const std::vector<bool>& tail,
                     int bleu_chunks, ngram_generation& m) {
  const double n_tail_types = static_cast<double>(std::max<std::ptrdiff_t>(1, std::count(tail.begin(), tail.end(), true)));
  double in_tail = 0;
  std::vector<bool> seen(tail.size(), false);
  for (auto w : synth) {
    in_tail += tail[static_cast<std::size_t>(w)];
    seen[static_cast<std::size_t>(w)] = true;
  }
  m.tail_mass = synth.empty() ? NAN : in_tail / static_cast<double>(synth.size());
  double tail_seen = 0;
  for (std::size_t w = 0; w < tail.size(); ++w) tail_seen += tail[w] && seen[w];
  m.tail_coverage = tail_seen / n_tail_types;
  const auto seqs = as_chunks(synth, len, n_chunks);
  m.distinct_1 = analysis::distinct_n(seqs, 1);
  m.distinct_2 = analysis::distinct_n(seqs, 2);
  const auto few = as_chunks(synth, len, static_cast<std::size_t>(std::max(2, bleu_chunks)));
  m.self_bleu = few.size() >= 2 ? analysis::self_bleu(few, 4) : NAN;
}

ngram_corpus prepare_ngram_corpus(const std::vector<std::string>& train_docs, const std::vector<std::string>& heldout_docs,
                                  const ngram_collapse_config& c) {
  LMLAB_CHECK(c.chunk >= 2, "collapse_ngram: chunk must be >= 2 tokens, got {}", c.chunk);
  const std::size_t len = static_cast<std::size_t>(c.chunk);
  const auto train = word_chunks(train_docs, len, c.real_tokens);
  const auto held = word_chunks(heldout_docs, len, c.heldout_tokens);
  LMLAB_CHECK_HINT(!train.empty() && !held.empty(), "lower task.chunk or raise task.real_tokens / task.heldout_tokens",
                   "collapse_ngram: the corpus gives {} training and {} held-out chunks of {} words", train.size(),
                   held.size(), len);
  std::unordered_map<std::string, std::int64_t> counts;
  for (const auto& ch : train)
    for (const auto& w : ch) ++counts[w];
  std::vector<std::pair<std::string, std::int64_t>> kept;
  for (const auto& [w, n] : counts)
    if (n >= c.min_count) kept.emplace_back(w, n);
  std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; });
  ngram_corpus out;
  out.words = {"<s>", "<unk>"};
  std::unordered_map<std::string, std::int32_t> id;
  for (const auto& [w, n] : kept) id.emplace(w, static_cast<std::int32_t>(out.words.size())), out.words.push_back(w);
  auto encode = [&](const std::vector<std::vector<std::string>>& chunks, std::vector<std::int32_t>& to) {
    for (const auto& ch : chunks)
      for (const auto& w : ch) {
        const auto it = id.find(w);
        to.push_back(it == id.end() ? 1 : it->second);
      }
  };
  encode(train, out.real);
  encode(held, out.heldout);
  return out;
}

ngram_corpus load_ngram_corpus(const ngram_collapse_config& c) {
  const auto docs = data::load_corpus(c.corpus, /*allow_fetch=*/false);
  // A pinned document order (not the run seed): every seed sees the same real split.
  rng pinned(0x0B203E5Full);
  const std::vector<std::size_t> order = choose_indices(docs.size(), docs.size(), pinned);
  std::vector<std::string> train, held;
  for (std::size_t i : order) (i % 10 == 0 ? held : train).push_back(docs[i].text);
  return prepare_ngram_corpus(train, held, c);
}

ngram_collapse_result run_ngram_collapse(const ngram_collapse_config& c, std::uint64_t seed) {
  return run_ngram_collapse(load_ngram_corpus(c), c, seed);
}

ngram_collapse_result run_ngram_collapse(const ngram_corpus& corpus, const ngram_collapse_config& c, std::uint64_t seed) {
  LMLAB_CHECK(c.s.generations >= 1, "collapse_ngram: generations must be >= 1, got {}", c.s.generations);
  LMLAB_CHECK(c.s.real_fraction >= 0 && c.s.real_fraction <= 1, "collapse_ngram: real_fraction must be in [0, 1]");
  const std::size_t len = static_cast<std::size_t>(c.chunk);
  const auto vocab = static_cast<std::int32_t>(corpus.words.size());
  ngram_collapse_result res;
  res.vocab = vocab - 1;
  const std::vector<bool> tail = tail_mask(corpus.real, vocab, c.tail_q, res.real_tail_mass);
  const real_types real = real_types_of(corpus.real, vocab, len);
  const std::size_t n_chunks = corpus.real.size() / len;

  rng g(seed, 0x6E6772ull);  // "ngr"
  std::vector<std::int32_t> pool = corpus.real, synth;
  for (int gen = 1; gen <= c.s.generations; ++gen) {
    const std::vector<std::int32_t> data = gen == 1 ? corpus.real : workflow_rows(c.s, len, corpus.real, pool, std::move(synth), g);
    ngram_lm lm(c.order, vocab, c.lambda);
    lm.fit(data, len);
    ngram_generation m;
    m.generation = gen;
    m.train_tokens = static_cast<double>(data.size());
    // Held-out real text, split by whether the word is in the real tail.
    double nll = 0, nll_tail = 0, n_tail = 0;
    for (std::size_t ch = 0; ch < corpus.heldout.size(); ch += len) {
      const std::span<const std::int32_t> chunk(corpus.heldout.data() + ch, len);
      for (std::size_t i = 0; i < len; ++i) {
        const double l = -std::log(lm.prob(chunk, i));
        nll += l;
        if (tail[static_cast<std::size_t>(chunk[i])]) nll_tail += l, ++n_tail;
      }
    }
    const double n_held = static_cast<double>(corpus.heldout.size());
    m.heldout_ppl = std::exp(nll / n_held);
    m.heldout_nll_tail = n_tail > 0 ? nll_tail / n_tail : NAN;
    m.heldout_nll_head = (nll - nll_tail) / (n_held - n_tail);
    // The training data: coverage of the real words and bigrams, unigram entropy.
    const data_coverage cov = measure_training_data(data, lm.unigram_counts(), m.train_tokens, len, real);
    m.coverage_1 = cov.coverage_1;
    m.entropy_1 = cov.entropy_1;
    m.coverage_2 = cov.coverage_2;
    // This model's samples: the next generation's synthetic batch.
    synth.clear();
    for (std::size_t k = 0; k < n_chunks; ++k) {
      const auto s = lm.sample(len, c.s.temperature, g);
      synth.insert(synth.end(), s.begin(), s.end());
    }
    measure_samples(synth, len, n_chunks, tail, c.bleu_chunks, m);
    res.gens.push_back(m);
  }
  return res;
}

}  // namespace lmlab::datalab
