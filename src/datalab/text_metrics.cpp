// Diversity and quality metrics: see text_metrics.hpp.
#include "datalab/text_metrics.hpp"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <map>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace lmlab::datalab {

// ---- words -----------------------------------------------------------------------------

namespace {
bool word_byte(unsigned char c) { return std::isalnum(c) || c == '\'' || c >= 0x80; }
}  // namespace

std::vector<std::string> word_tokens(std::string_view text) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (std::isspace(c)) {
      ++i;
      continue;
    }
    if (!word_byte(c)) {
      out.emplace_back(1, static_cast<char>(c));
      ++i;
      continue;
    }
    std::string w;
    while (i < text.size() && word_byte(static_cast<unsigned char>(text[i])))
      w.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(text[i++]))));
    out.push_back(std::move(w));
  }
  return out;
}

std::int32_t vocabulary::add(const std::string& w) {
  auto [it, inserted] = ids_.try_emplace(w, static_cast<std::int32_t>(words_.size()));
  if (inserted) words_.push_back(w);
  return it->second;
}

std::int32_t vocabulary::find(const std::string& w) const {
  const auto it = ids_.find(w);
  return it == ids_.end() ? -1 : it->second;
}

std::vector<token_seq> to_word_ids(std::span<const std::string> texts, vocabulary& vocab) {
  std::vector<token_seq> out;
  out.reserve(texts.size());
  for (const auto& t : texts) {
    token_seq s;
    for (const auto& w : word_tokens(t)) s.push_back(vocab.add(w));
    out.push_back(std::move(s));
  }
  return out;
}

// ---- n-gram counts, entropy, tail ------------------------------------------------------

namespace {
std::string gram_key(const token_seq& s, std::size_t start, int n) {
  std::string k(static_cast<std::size_t>(n) * sizeof(std::int32_t), '\0');
  std::memcpy(k.data(), s.data() + start, k.size());
  return k;
}

template <class F>
void for_each_gram(std::span<const token_seq> seqs, int n, F&& f) {
  for (const auto& s : seqs)
    for (std::size_t i = 0; i + static_cast<std::size_t>(n) <= s.size(); ++i) f(gram_key(s, i, n));
}
}  // namespace

ngram_count_map count_ngrams(std::span<const token_seq> seqs, int n) {
  LMLAB_CHECK(n >= 1, "count_ngrams: n must be >= 1, got {}", n);
  ngram_count_map c;
  for_each_gram(seqs, n, [&](std::string k) { ++c[std::move(k)]; });
  return c;
}

double ngram_entropy(std::span<const token_seq> seqs, int n) {
  const auto c = count_ngrams(seqs, n);
  std::int64_t total = 0;
  for (const auto& [k, v] : c) total += v;
  if (total == 0) return 0;
  double h = 0;
  for (const auto& [k, v] : c) {
    const double p = static_cast<double>(v) / static_cast<double>(total);
    h -= p * std::log2(p);
  }
  return h;
}

tail_set rarest_ngrams(std::span<const token_seq> reference, int n, double q) {
  LMLAB_CHECK(q >= 0 && q <= 1, "rarest_ngrams: q must be in [0, 1], got {}", q);
  const auto c = count_ngrams(reference, n);
  // occurrences per count class: class c holds (#grams with count c) * c occurrences
  std::map<std::int64_t, std::int64_t> mass_by_count;
  std::int64_t total = 0;
  for (const auto& [k, v] : c) mass_by_count[v] += v, total += v;
  tail_set t;
  t.n = n;
  t.q = q;
  std::int64_t cum = 0;
  for (const auto& [count, mass] : mass_by_count) {
    // The rarest class always belongs to the tail, even when it alone holds more than q.
    if (t.max_count > 0 && static_cast<double>(cum + mass) > q * static_cast<double>(total)) break;
    cum += mass;
    t.max_count = count;
  }
  t.reference_mass = total ? static_cast<double>(cum) / static_cast<double>(total) : 0.0;
  for (const auto& [k, v] : c)
    if (v <= t.max_count) t.grams.insert(k);
  return t;
}

double tail_mass(std::span<const token_seq> seqs, const tail_set& tail) {
  std::int64_t in = 0, total = 0;
  for_each_gram(seqs, tail.n, [&](const std::string& k) {
    ++total;
    in += tail.grams.count(k) ? 1 : 0;
  });
  return total ? static_cast<double>(in) / static_cast<double>(total) : 0.0;
}

// ---- near duplicates -------------------------------------------------------------------

namespace {
constexpr std::uint64_t mersenne61 = (1ull << 61) - 1;

// ref: Steele et al. 2014 (SplitMix64 finaliser), a 64-bit mixer.
std::uint64_t mix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// (a·x + b) mod 2^61 − 1 with x, a, b < 2^61 − 1.
std::uint64_t affine_mod61(std::uint64_t a, std::uint64_t x, std::uint64_t b) {
  const unsigned __int128 p = static_cast<unsigned __int128>(a) * x + b;
  std::uint64_t r = static_cast<std::uint64_t>(p & mersenne61) + static_cast<std::uint64_t>(p >> 61);
  while (r >= mersenne61) r -= mersenne61;
  return r;
}
}  // namespace

std::vector<std::uint64_t> shingle_set(const token_seq& doc, int shingle) {
  LMLAB_CHECK(shingle >= 1, "minhash: shingle must be >= 1 words, got {}", shingle);
  std::vector<std::uint64_t> out;
  if (doc.empty()) return out;
  const std::size_t k = std::min(doc.size(), static_cast<std::size_t>(shingle));
  for (std::size_t i = 0; i + k <= doc.size(); ++i) {
    std::uint64_t h = 0x51ED270B27A5D3C1ull ^ k;
    for (std::size_t j = 0; j < k; ++j) h = mix64(h ^ static_cast<std::uint32_t>(doc[i + j]));
    out.push_back(h);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

double jaccard(std::span<const std::uint64_t> a, std::span<const std::uint64_t> b) {
  if (a.empty() && b.empty()) return 0;
  std::size_t i = 0, j = 0, inter = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i] == b[j]) ++inter, ++i, ++j;
    else if (a[i] < b[j]) ++i;
    else ++j;
  }
  return static_cast<double>(inter) / static_cast<double>(a.size() + b.size() - inter);
}

std::vector<std::uint64_t> minhash_signature(std::span<const std::uint64_t> set, int permutations, std::uint64_t seed) {
  LMLAB_CHECK(permutations >= 1, "minhash: permutations must be >= 1, got {}", permutations);
  rng g(seed, 0x6D696E68ull);  // "minh"
  std::vector<std::uint64_t> sig(static_cast<std::size_t>(permutations), mersenne61);
  for (auto& s : sig) {
    const std::uint64_t a = 1 + g.below(mersenne61 - 1), b = g.below(mersenne61);
    for (std::uint64_t x : set) s = std::min(s, affine_mod61(a, x % mersenne61, b));
  }
  return sig;
}

double signature_similarity(std::span<const std::uint64_t> a, std::span<const std::uint64_t> b) {
  LMLAB_CHECK(a.size() == b.size() && !a.empty(), "minhash: signatures differ in length ({} vs {})", a.size(), b.size());
  std::size_t eq = 0;
  for (std::size_t i = 0; i < a.size(); ++i) eq += a[i] == b[i];
  return static_cast<double>(eq) / static_cast<double>(a.size());
}

namespace {
double duplicate_fraction(const std::vector<bool>& dup, const std::vector<bool>& nonempty) {
  std::size_t d = 0, n = 0;
  for (std::size_t i = 0; i < dup.size(); ++i) n += nonempty[i], d += dup[i];
  return n ? static_cast<double>(d) / static_cast<double>(n) : 0.0;
}
}  // namespace

double near_duplicate_rate(std::span<const token_seq> docs, const minhash_options& opt) {
  LMLAB_CHECK(opt.band_rows >= 1 && opt.permutations % opt.band_rows == 0,
              "minhash: permutations ({}) must be a multiple of band_rows ({})", opt.permutations, opt.band_rows);
  std::vector<std::vector<std::uint64_t>> sig(docs.size());
  std::vector<bool> nonempty(docs.size()), dup(docs.size());
  for (std::size_t i = 0; i < docs.size(); ++i) {
    const auto set = shingle_set(docs[i], opt.shingle);
    nonempty[i] = !set.empty();
    if (nonempty[i]) sig[i] = minhash_signature(set, opt.permutations, opt.seed);
  }
  const int bands = opt.permutations / opt.band_rows;
  for (int b = 0; b < bands; ++b) {
    std::unordered_map<std::uint64_t, std::vector<std::size_t>> buckets;
    for (std::size_t i = 0; i < docs.size(); ++i) {
      if (!nonempty[i]) continue;
      std::uint64_t h = static_cast<std::uint64_t>(b);
      for (int r = 0; r < opt.band_rows; ++r) h = mix64(h ^ sig[i][static_cast<std::size_t>(b * opt.band_rows + r)]);
      buckets[h].push_back(i);
    }
    for (const auto& [h, members] : buckets)
      for (std::size_t x = 0; x < members.size(); ++x)
        for (std::size_t y = x + 1; y < members.size(); ++y) {
          const std::size_t i = members[x], j = members[y];
          if (dup[i] && dup[j]) continue;
          if (signature_similarity(sig[i], sig[j]) >= opt.threshold) dup[i] = dup[j] = true;
        }
  }
  return duplicate_fraction(dup, nonempty);
}

double exact_near_duplicate_rate(std::span<const token_seq> docs, int shingle, double threshold) {
  std::vector<std::vector<std::uint64_t>> sets;
  std::vector<bool> nonempty(docs.size()), dup(docs.size());
  for (std::size_t i = 0; i < docs.size(); ++i) {
    sets.push_back(shingle_set(docs[i], shingle));
    nonempty[i] = !sets.back().empty();
  }
  for (std::size_t i = 0; i < docs.size(); ++i)
    for (std::size_t j = i + 1; j < docs.size(); ++j)
      if (nonempty[i] && nonempty[j] && jaccard(sets[i], sets[j]) >= threshold) dup[i] = dup[j] = true;
  return duplicate_fraction(dup, nonempty);
}

// ---- compression -----------------------------------------------------------------------

double compression_ratio(std::string_view text, int level) {
  LMLAB_CHECK(level >= 0 && level <= 9, "compression_ratio: zlib level must be 0-9, got {}", level);
  if (text.empty()) return 0;
  uLongf out_len = compressBound(static_cast<uLong>(text.size()));
  std::vector<Bytef> out(out_len);
  const int rc = compress2(out.data(), &out_len, reinterpret_cast<const Bytef*>(text.data()),
                           static_cast<uLong>(text.size()), level);
  LMLAB_CHECK(rc == Z_OK, "compression_ratio: zlib compress2 failed with code {}", rc);
  return static_cast<double>(text.size()) / static_cast<double>(out_len);
}

// ---- all of them -----------------------------------------------------------------------

text_stats compute_text_stats(std::span<const std::string> docs, std::span<const std::string> reference,
                              const stats_options& opt) {
  LMLAB_CHECK(opt.n >= 1, "datalab stats: n must be >= 1, got {}", opt.n);
  vocabulary vocab;
  const auto seqs = to_word_ids(docs, vocab);
  text_stats s;
  s.documents = docs.size();
  std::string joined;
  for (std::size_t i = 0; i < docs.size(); ++i) {
    s.tokens += seqs[i].size();
    joined += docs[i];
    joined += '\n';
  }
  s.bytes = joined.size();
  s.distinct_1 = analysis::distinct_n(seqs, 1);
  s.distinct_n = analysis::distinct_n(seqs, opt.n);
  s.entropy_1 = ngram_entropy(seqs, 1);
  s.entropy_n = ngram_entropy(seqs, opt.n);
  std::vector<token_seq> bleu;
  for (const auto& q : seqs)
    if (!q.empty() && static_cast<int>(bleu.size()) < opt.bleu_docs) bleu.push_back(q);
  s.self_bleu = bleu.size() >= 2 ? analysis::self_bleu(bleu, opt.bleu_order) : NAN;
  s.tail_mass = s.reference_tail_mass = NAN;
  if (!reference.empty()) {
    const auto ref = to_word_ids(reference, vocab);
    const auto tail = rarest_ngrams(ref, opt.n, opt.tail_q);
    s.tail_mass = tail_mass(seqs, tail);
    s.reference_tail_mass = tail.reference_mass;
  }
  s.near_duplicate_rate = near_duplicate_rate(seqs, opt.minhash);
  s.compression_ratio = compression_ratio(joined);
  return s;
}

}  // namespace lmlab::datalab
