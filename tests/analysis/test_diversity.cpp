// n-gram diversity: distinct-n and self-BLEU on sequences small enough to count by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "analysis/stats.hpp"
#include "core/error.hpp"

namespace a = lmlab::analysis;

TEST(diversity, distinct_n_hand_counted) {
  // Unigrams: 7 tokens, 3 distinct. Bigrams: (1,2) (2,3) (3,1) (1,2) | (1,2): 5 total, 3 distinct.
  const std::vector<a::token_seq> s = {{1, 2, 3, 1, 2}, {1, 2}};
  EXPECT_DOUBLE_EQ(a::distinct_n(s, 1), 3.0 / 7.0);
  EXPECT_DOUBLE_EQ(a::distinct_n(s, 2), 3.0 / 5.0);
  // Trigrams: (1,2,3) (2,3,1) (3,1,2): all distinct; the short sequence has none.
  EXPECT_DOUBLE_EQ(a::distinct_n(s, 3), 1.0);
  EXPECT_EQ(a::distinct_n(s, 6), 0.0);
}

TEST(diversity, word_sequences_share_ids) {
  const std::vector<std::string> t = {"the cat  sat", " the dog\tsat\n"};
  const auto w = a::word_sequences(t);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0], (a::token_seq{0, 1, 2}));
  EXPECT_EQ(w[1], (a::token_seq{0, 3, 2}));
  EXPECT_DOUBLE_EQ(a::distinct_n(w, 1), 4.0 / 6.0);
}

TEST(diversity, self_bleu_hand_computed) {
  // A = 1 2 3 4 vs B = 1 2 3 5: unigram precision 3/4, bigram 2/3, equal lengths (BP = 1):
  // BLEU-2 = sqrt(3/4 * 2/3) = sqrt(1/2), the same for B against A.
  const std::vector<a::token_seq> s = {{1, 2, 3, 4}, {1, 2, 3, 5}};
  EXPECT_NEAR(a::self_bleu(s, 2), std::sqrt(0.5), 1e-14);
  const std::vector<a::token_seq> same = {{4, 5, 6, 7}, {4, 5, 6, 7}, {4, 5, 6, 7}};
  EXPECT_NEAR(a::self_bleu(same, 4), 1.0, 1e-14);
  // Brevity penalty: hypothesis 1 2 against reference 1 2 3 4 -> exp(1 - 4/2) for the short
  // one (precisions 1), and the long one scores 2/4 unigrams, 1/3 bigrams, no BP.
  const std::vector<a::token_seq> bp = {{1, 2}, {1, 2, 3, 4}};
  EXPECT_NEAR(a::self_bleu(bp, 2), (std::exp(-1.0) + std::sqrt(0.5 * (1.0 / 3.0))) / 2, 1e-14);
  try {
    a::self_bleu(std::vector<a::token_seq>{{1}}, 4);
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_STREQ(e.what(), "self_bleu: need at least 2 sequences, got 1");
  }
}
