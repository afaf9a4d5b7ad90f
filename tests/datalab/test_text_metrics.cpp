// Diversity and quality metrics (datalab/text_metrics.hpp) against hand-computed values.
#include "datalab/text_metrics.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"

namespace dl = lmlab::datalab;
using dl::token_seq;

TEST(text_metrics, word_tokens_split_words_and_punctuation) {
  const std::vector<std::string> want = {"don't", "stop", ".", "go", "!", "café"};
  EXPECT_EQ(dl::word_tokens("Don't stop.  Go!\ncafé"), want);
  EXPECT_TRUE(dl::word_tokens(" \n\t").empty());
}

TEST(text_metrics, ngram_entropy_hand_computed) {
  const std::vector<token_seq> s = {{1, 1, 2, 3}};
  // unigrams 1:2, 2:1, 3:1 -> p = 1/2, 1/4, 1/4 -> H = 1.5 bits
  EXPECT_DOUBLE_EQ(dl::ngram_entropy(s, 1), 1.5);
  // bigrams (1,1), (1,2), (2,3) once each -> log2 3
  EXPECT_DOUBLE_EQ(dl::ngram_entropy(s, 2), std::log2(3.0));
  EXPECT_EQ(dl::ngram_entropy(s, 5), 0.0);
}

TEST(text_metrics, tail_is_whole_count_classes_under_q) {
  // counts a(0):5, b(1):3, c(2):1, d(3):1 -> 10 occurrences
  const std::vector<token_seq> ref = {{0, 0, 0, 1, 2}, {0, 0, 1, 1, 3}};
  auto t = dl::rarest_ngrams(ref, 1, 0.2);  // class 1 holds 2/10 <= 0.2; class 3 would make 5/10
  EXPECT_EQ(t.max_count, 1);
  EXPECT_DOUBLE_EQ(t.reference_mass, 0.2);
  EXPECT_EQ(t.grams.size(), 2u);
  const std::vector<token_seq> gen = {{2, 0, 0, 3, 1}};
  EXPECT_DOUBLE_EQ(dl::tail_mass(gen, t), 2.0 / 5.0);
  EXPECT_DOUBLE_EQ(dl::tail_mass(ref, t), t.reference_mass);
  t = dl::rarest_ngrams(ref, 1, 0.1);  // class 1 alone is already 0.2 > 0.1: it is the tail anyway
  EXPECT_EQ(t.max_count, 1);
  EXPECT_DOUBLE_EQ(t.reference_mass, 0.2);
  EXPECT_DOUBLE_EQ(dl::tail_mass(gen, t), 2.0 / 5.0);
  EXPECT_EQ(dl::rarest_ngrams({}, 1, 0.1).grams.size(), 0u);
  t = dl::rarest_ngrams(ref, 1, 0.5);  // classes 1 and 3: 5/10
  EXPECT_EQ(t.max_count, 3);
  EXPECT_DOUBLE_EQ(dl::tail_mass(gen, t), 3.0 / 5.0);
}

TEST(text_metrics, shingles_and_jaccard_hand_computed) {
  EXPECT_EQ(dl::shingle_set({1, 2, 3, 1, 2, 3}, 3).size(), 3u);  // (1,2,3) (2,3,1) (3,1,2)
  EXPECT_EQ(dl::shingle_set({1, 2}, 5).size(), 1u);              // shorter than a shingle: one
  EXPECT_TRUE(dl::shingle_set({}, 5).empty());
  const std::vector<std::uint64_t> a = {1, 2, 3}, b = {2, 3, 4, 5};
  EXPECT_DOUBLE_EQ(dl::jaccard(a, b), 2.0 / 5.0);
  EXPECT_EQ(dl::jaccard({}, {}), 0.0);
}

namespace {
token_seq iota_seq(int from, int to) {
  token_seq s;
  for (int i = from; i <= to; ++i) s.push_back(i);
  return s;
}
}  // namespace

TEST(text_metrics, near_duplicate_rate_exact_and_minhash) {
  // A = 1..10 and B = 1..9,11 share 5 of their 6 + 6 five-word shingles: J = 5/7 = 0.714.
  token_seq b = iota_seq(1, 9);
  b.push_back(11);
  const std::vector<token_seq> docs = {iota_seq(1, 10), b, iota_seq(20, 30), {}};
  EXPECT_DOUBLE_EQ(dl::jaccard(dl::shingle_set(docs[0], 5), dl::shingle_set(docs[1], 5)), 5.0 / 7.0);
  EXPECT_DOUBLE_EQ(dl::exact_near_duplicate_rate(docs, 5, 0.7), 2.0 / 3.0);  // the empty doc is not counted
  EXPECT_EQ(dl::exact_near_duplicate_rate(docs, 5, 0.8), 0.0);
  dl::minhash_options o;
  o.threshold = 0.6;
  EXPECT_DOUBLE_EQ(dl::near_duplicate_rate(docs, o), 2.0 / 3.0);
  o.threshold = 0.9;
  EXPECT_EQ(dl::near_duplicate_rate(docs, o), 0.0);
  const std::vector<token_seq> same = {iota_seq(1, 40), iota_seq(1, 40), iota_seq(1, 40)};
  EXPECT_EQ(dl::near_duplicate_rate(same), 1.0);
  o.permutations = 130;
  EXPECT_THROW(dl::near_duplicate_rate(docs, o), lmlab::error);
}

TEST(text_metrics, minhash_estimates_jaccard) {
  // |A| = |B| = 1000, |A ∩ B| = 600: J = 600 / 1400.
  std::vector<std::uint64_t> a, bb;
  for (std::uint64_t i = 0; i < 1000; ++i) a.push_back(i * 7919 + 13), bb.push_back((i + 400) * 7919 + 13);
  const double j = dl::jaccard(a, bb);
  ASSERT_DOUBLE_EQ(j, 600.0 / 1400.0);
  const int perms = 1024;
  const double est = dl::signature_similarity(dl::minhash_signature(a, perms, 1), dl::minhash_signature(bb, perms, 1));
  const double sd = std::sqrt(j * (1 - j) / perms);  // binomial: each permutation agrees w.p. J
  EXPECT_NEAR(est, j, 4 * sd);
}

TEST(text_metrics, compression_ratio_stored_blocks_hand_computed) {
  // zlib level 0 stores: 2-byte header + 5 bytes per stored block (<= 65535 bytes) + 4-byte Adler-32.
  std::string s;
  for (int i = 0; i < 200; ++i) s += "hello";
  EXPECT_DOUBLE_EQ(dl::compression_ratio(s, 0), 1000.0 / 1011.0);
  const std::string big(70000, 'x');
  EXPECT_DOUBLE_EQ(dl::compression_ratio(big, 0), 70000.0 / 70016.0);
  EXPECT_GT(dl::compression_ratio(big, 9), 100.0);  // a run of one byte compresses > 100x
  EXPECT_EQ(dl::compression_ratio("", 9), 0.0);
  EXPECT_THROW(dl::compression_ratio(s, 10), lmlab::error);
}

TEST(text_metrics, text_stats_combines_the_metrics) {
  // words a b a | b c -> ids {0,1,0} {1,2}
  const std::vector<std::string> docs = {"a b a", "b c"};
  const std::vector<std::string> ref = {"a a a a b b b c"};  // unigram counts a4 b3 c1: tail (q 0.2) = {c}
  dl::stats_options o;
  o.n = 1;
  o.tail_q = 0.2;
  const auto s = dl::compute_text_stats(docs, ref, o);
  EXPECT_EQ(s.documents, 2u);
  EXPECT_EQ(s.tokens, 5u);
  EXPECT_DOUBLE_EQ(s.distinct_1, 3.0 / 5.0);
  EXPECT_DOUBLE_EQ(s.entropy_1, -(2 * 0.4 * std::log2(0.4) + 0.2 * std::log2(0.2)));
  EXPECT_DOUBLE_EQ(s.reference_tail_mass, 1.0 / 8.0);
  EXPECT_DOUBLE_EQ(s.tail_mass, 1.0 / 5.0);
  EXPECT_EQ(s.bytes, std::string("a b a\nb c\n").size());
  o.n = 2;
  EXPECT_DOUBLE_EQ(dl::compute_text_stats(docs, {}, o).distinct_n, 1.0);  // (a,b) (b,a) (b,c)
  EXPECT_TRUE(std::isnan(dl::compute_text_stats(docs, {}, o).tail_mass));
}
