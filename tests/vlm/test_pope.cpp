// POPE: negative sampling per setting on hand-made statistics, and the metrics against values
// computed by hand (Li et al. 2023 sec. 4.2).
#include <gtest/gtest.h>

#include <set>

#include "vlm/pope.hpp"

using namespace lmlab;
using namespace lmlab::vlm;

namespace {

// 6 classes. Counts: class 5 is the most frequent, then 4. Co-occurrence: class 0 goes with 3.
object_stats hand_stats() {
  object_stats s;
  s.count = {10, 10, 5, 8, 20, 30};
  s.cooc.assign(6, std::vector<std::int64_t>(6, 0));
  s.cooc[0][3] = s.cooc[3][0] = 9;
  s.cooc[0][2] = s.cooc[2][0] = 4;
  s.cooc[1][2] = s.cooc[2][1] = 6;
  return s;
}

std::vector<object> objs(std::initializer_list<int> classes) {
  std::vector<object> o;
  for (int c : classes) o.push_back({c, 0, false, 0, 0});
  return o;
}

TEST(vlm_pope, popular_negatives_are_the_most_frequent_absent_objects) {
  rng g(1);
  const auto q = pope_questions(objs({0, 5}), pope_setting::popular, hand_stats(), 6, 3, g);
  ASSERT_EQ(q.size(), 4u);  // 2 positives, 2 negatives
  EXPECT_TRUE(q[0].truth && q[1].truth);
  EXPECT_EQ(q[2].cls, 4);   // count 20 (5 is present)
  EXPECT_EQ(q[3].cls, 1);   // count 10, tie with 0 (present)
  EXPECT_FALSE(q[2].truth || q[3].truth);
}

TEST(vlm_pope, adversarial_negatives_co_occur_with_the_image_objects) {
  rng g(1);
  // Image {0, 1}: co-occurrence sums: 2 -> 4 + 6 = 10, 3 -> 9, others 0.
  const auto q = pope_questions(objs({0, 1}), pope_setting::adversarial, hand_stats(), 6, 3, g);
  ASSERT_EQ(q.size(), 4u);
  EXPECT_EQ(q[2].cls, 2);
  EXPECT_EQ(q[3].cls, 3);
}

TEST(vlm_pope, random_negatives_are_distinct_absent_objects_and_seeded) {
  std::set<int> seen;
  for (std::uint64_t s = 0; s < 50; ++s) {
    rng g(s), h(s);
    const auto q = pope_questions(objs({0, 1, 2}), pope_setting::random, hand_stats(), 6, 3, g);
    const auto r = pope_questions(objs({0, 1, 2}), pope_setting::random, hand_stats(), 6, 3, h);
    ASSERT_EQ(q.size(), 6u);
    std::set<int> neg;
    for (std::size_t i = 3; i < 6; ++i) {
      EXPECT_GE(q[i].cls, 3);
      EXPECT_EQ(q[i].cls, r[i].cls);
      neg.insert(q[i].cls);
      seen.insert(q[i].cls);
    }
    EXPECT_EQ(neg.size(), 3u);
  }
  EXPECT_EQ(seen.size(), 3u);
}

TEST(vlm_pope, per_image_caps_positives_and_negatives_follow) {
  rng g(2);
  const auto q = pope_questions(objs({0, 1, 2, 3}), pope_setting::popular, hand_stats(), 6, 3, g);
  ASSERT_EQ(q.size(), 5u);  // 3 positives; only 2 classes are absent
  EXPECT_EQ(q[3].cls, 5);
  EXPECT_EQ(q[4].cls, 4);
}

TEST(vlm_pope, metrics_match_hand_computed_values) {
  pope_counts c;
  for (int i = 0; i < 3; ++i) c.add(true, true);    // TP
  c.add(false, true);                               // FP
  for (int i = 0; i < 2; ++i) c.add(false, false);  // TN
  for (int i = 0; i < 4; ++i) c.add(true, false);   // FN
  const pope_metrics m = pope_score(c);
  EXPECT_DOUBLE_EQ(m.accuracy, 0.5);          // (3 + 2) / 10
  EXPECT_DOUBLE_EQ(m.precision, 0.75);        // 3 / 4
  EXPECT_DOUBLE_EQ(m.recall, 3.0 / 7.0);      // 3 / 7
  EXPECT_NEAR(m.f1, 6.0 / 11.0, 1e-15);       // 2 * 0.75 * (3/7) / (0.75 + 3/7) = 6/11
  EXPECT_DOUBLE_EQ(m.yes_ratio, 0.4);         // 4 / 10
  // A model that always says no: precision and F1 are 0, yes ratio 0, accuracy the negatives' share.
  pope_counts n;
  n.add(true, false);
  n.add(false, false);
  n.add(false, false);
  const pope_metrics z = pope_score(n);
  EXPECT_DOUBLE_EQ(z.precision, 0);
  EXPECT_DOUBLE_EQ(z.f1, 0);
  EXPECT_DOUBLE_EQ(z.yes_ratio, 0);
  EXPECT_DOUBLE_EQ(z.accuracy, 2.0 / 3.0);
}

}  // namespace
