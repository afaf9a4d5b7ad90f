// MQAR, copying, selective copying and induction: determinism, the literal header examples,
// layout invariants re-checked example by example, disjoint train/test, errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "tasks/copying.hpp"
#include "tasks/induction.hpp"
#include "tasks/mqar.hpp"

using namespace lmlab::tasks;

namespace {
bool same(const dataset& a, const dataset& b) {
  auto eq = [](const std::vector<example>& x, const std::vector<example>& y) {
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i)
      if (x[i].input != y[i].input || x[i].target != y[i].target || x[i].slice != y[i].slice ||
          x[i].prompt != y[i].prompt || x[i].answer != y[i].answer)
        return false;
    return true;
  };
  return eq(a.train, b.train) && eq(a.test, b.test) && a.vocab.tokens() == b.vocab.tokens();
}
std::size_t overlap(const dataset& d) {
  std::set<std::vector<std::int32_t>> tr;
  for (const auto& e : d.train) tr.insert(e.input);
  std::size_t n = 0;
  for (const auto& e : d.test) n += tr.count(e.input);
  return n;
}
}  // namespace

TEST(mqar, header_example_is_literal) {
  mqar_config c{.vocab_size = 20, .seq_len = 16, .num_kv_pairs = 2, .random_non_queries = false, .num_train = 1};
  const dataset d = build(c, 0);
  EXPECT_EQ(format_example(d.vocab, d.train[0]),
            "Inputs: k4 v17 k8 v16 k0 k0 k0 k0 k4 k0 k8 k0 k0 k0 k0 k0\n"
            "Labels: -100 -100 -100 -100 -100 -100 -100 -100 v17 -100 v16 -100 -100 -100 -100 -100");
  EXPECT_EQ(d.train[0].answer, "v17 v16");
  EXPECT_EQ(d.train[0].prompt,
            "Here are key-value pairs: k4=v17 k8=v16.\n"
            "Give the value of each of these keys, in order, separated by spaces: k4 k8");
}

TEST(mqar, deterministic_and_seed_dependent) {
  mqar_config c{.vocab_size = 256, .seq_len = 64, .num_kv_pairs = 8, .num_train = 50, .num_test = 20};
  EXPECT_TRUE(same(build(c, 7), build(c, 7)));
  EXPECT_FALSE(same(build(c, 7), build(c, 8)));
}

TEST(mqar, layout_rechecked_per_example) {
  mqar_config c{.vocab_size = 128, .seq_len = 64, .num_kv_pairs = 6, .num_train = 300, .num_test = 100,
                .test_num_kv_pairs = {2, 16}};
  const dataset d = build(c, 3);
  validate(d);
  ASSERT_EQ(d.train.size(), 300u);
  ASSERT_EQ(d.test.size(), 200u);
  EXPECT_EQ(d.test.front().slice, "kv=2");
  EXPECT_EQ(d.test.back().slice, "kv=16");
  EXPECT_EQ(overlap(d), 0u);
  auto check_one = [&](const example& ex) {
    const auto kv = static_cast<std::size_t>(ex.difficulty);
    ASSERT_EQ(ex.input.size(), 64u);
    std::set<std::int32_t> keys, values;
    for (std::size_t i = 0; i < kv; ++i) {
      const std::int32_t k = ex.input[2 * i], v = ex.input[2 * i + 1];
      ASSERT_GE(k, 1);
      ASSERT_LT(k, 64);
      ASSERT_GE(v, 64);
      ASSERT_LT(v, 128);
      keys.insert(k);
      values.insert(v);
    }
    ASSERT_EQ(keys.size(), kv);
    ASSERT_EQ(values.size(), kv);
    std::size_t supervised = 0;
    for (std::size_t t = 0; t < ex.input.size(); ++t) {
      if (ex.target[t] == ignore_index) continue;
      ++supervised;
      ASSERT_GE(t, 2 * kv);
      ASSERT_EQ((t - 2 * kv) % 2, 0u);
      // The target is the value paired with the queried key in the context.
      std::size_t i = 0;
      while (i < kv && ex.input[2 * i] != ex.input[t]) ++i;
      ASSERT_LT(i, kv) << "query is not a context key";
      ASSERT_EQ(ex.target[t], ex.input[2 * i + 1]);
    }
    ASSERT_EQ(supervised, kv);
  };
  for (const auto& ex : d.train) check_one(ex);
  for (const auto& ex : d.test) check_one(ex);
}

TEST(mqar, power_law_prefers_short_gaps) {
  auto mean_gap = [](double a) {
    mqar_config c{.vocab_size = 512, .seq_len = 256, .num_kv_pairs = 4, .power_a = a, .num_train = 400, .num_test = 0};
    const dataset d = build(c, 1);
    double s = 0;
    int n = 0;
    for (const auto& ex : d.train)
      for (std::size_t t = 0; t < ex.target.size(); ++t)
        if (ex.target[t] != ignore_index) s += static_cast<double>(t - 8) / 2.0, ++n;
    return s / n;
  };
  const double skewed = mean_gap(0.01), uniform = mean_gap(1.0);
  // Uniform gaps over 124 slots average about 61.5; a = 0.01 puts most mass near 0.
  EXPECT_NEAR(uniform, 61.5, 6.0);
  EXPECT_LT(skewed, 0.6 * uniform);
}

TEST(mqar, single_query_gap_follows_the_power_law) {
  // One pair, seq_len 12: the query sits at 2 + 2·gap, gap in [0, 5), P(gap = i-1) ∝ a·i^(a-1).
  mqar_config c{.vocab_size = 32, .seq_len = 12, .num_kv_pairs = 1, .power_a = 0.5, .num_train = 20000, .num_test = 0};
  const dataset d = build(c, 2);
  std::vector<double> freq(5, 0.0), p(5);
  double z = 0;
  for (int i = 1; i <= 5; ++i) z += p[static_cast<std::size_t>(i - 1)] = 0.5 * std::pow(i, -0.5);
  for (const auto& ex : d.train)
    for (std::size_t t = 0; t < ex.target.size(); ++t)
      if (ex.target[t] != ignore_index) freq[(t - 2) / 2] += 1.0 / 20000.0;
  for (std::size_t i = 0; i < 5; ++i) EXPECT_NEAR(freq[i], p[i] / z, 0.012) << "gap " << i;
}

TEST(mqar, impossible_configs_name_the_key) {
  try {
    build(mqar_config{.vocab_size = 512, .seq_len = 64, .num_kv_pairs = 17}, 0);
    FAIL();
  } catch (const param_error& e) {
    EXPECT_EQ(e.key(), "num_kv_pairs");
    EXPECT_STREQ(e.what(), "mqar: num_kv_pairs: 17 pairs need 4·17 = 68 positions but seq_len is 64");
  }
  try {
    build(mqar_config{.vocab_size = 64, .seq_len = 64}, 0);
    FAIL();
  } catch (const param_error& e) {
    EXPECT_EQ(e.key(), "vocab_size");
  }
}

TEST(copy, header_example_and_layout) {
  copy_config c{.vocab_size = 8, .min_len = 4, .max_len = 4, .num_train = 1};
  const dataset d = build(c, 0);
  EXPECT_EQ(format_example(d.vocab, d.train[0]),
            "Inputs: <bos> d h f e <sep> d h f e\nLabels: -100 -100 -100 -100 -100 d h f e <eos>");
  EXPECT_EQ(d.train[0].answer, "d h f e");
}

TEST(copy, test_lengths_slices_and_copy_targets) {
  copy_config c{.vocab_size = 10, .min_len = 1, .max_len = 8, .num_train = 200, .num_test = 10,
                .test_lengths = {8, 16, 64}};
  const dataset d = build(c, 5);
  validate(d);
  EXPECT_TRUE(same(d, build(c, 5)));
  ASSERT_EQ(d.test.size(), 30u);
  EXPECT_EQ(d.test[0].slice, "len=8");
  EXPECT_EQ(d.test[29].slice, "len=64");
  EXPECT_EQ(d.test[29].input.size(), 1u + 64 + 1 + 64 - 1 + 1);  // <bos> x <sep> x (answer+<eos> shifted)
  EXPECT_EQ(overlap(d), 0u);
  for (const auto& ex : d.train) {
    const auto n = static_cast<std::size_t>(ex.difficulty);
    ASSERT_GE(n, 1u);
    ASSERT_LE(n, 8u);
    for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(ex.target[n + 1 + i], ex.input[1 + i]);
    ASSERT_EQ(ex.target.back(), d.vocab.id("<eos>"));
  }
}

TEST(selective_copy, header_example_and_content_order) {
  const dataset d1 = build(selective_copy_config{.vocab_size = 8, .seq_len = 8, .num_tokens = 3, .num_train = 1}, 0);
  EXPECT_EQ(format_example(d1.vocab, d1.train[0]),
            "Inputs: <bos> . . . e . h . c <sep> e h c\n"
            "Labels: -100 -100 -100 -100 -100 -100 -100 -100 -100 e h c <eos>");
  selective_copy_config c{.vocab_size = 12, .seq_len = 32, .num_tokens = 5, .num_train = 100, .num_test = 10,
                          .test_seq_lens = {64}};
  const dataset d = build(c, 2);
  validate(d);
  const std::int32_t noise = d.vocab.id(".");
  for (const auto& ex : d.test) {
    std::vector<std::int32_t> content, answer;
    for (std::size_t t = 1; t <= 64; ++t)
      if (ex.input[t] != noise) content.push_back(ex.input[t]);
    for (auto y : ex.target)
      if (y != ignore_index && y != d.vocab.id("<eos>")) answer.push_back(y);
    ASSERT_EQ(content.size(), 5u);
    ASSERT_EQ(content, answer);
  }
  EXPECT_THROW(build(selective_copy_config{.seq_len = 4, .num_tokens = 5}, 0), param_error);
}

TEST(induction, header_example_and_target_rule) {
  const dataset d1 = build(induction_config{.vocab_size = 6, .seq_len = 10, .num_train = 1}, 0);
  EXPECT_EQ(format_example(d1.vocab, d1.train[0]),
            "Inputs: c * e d f c e a a *\nLabels: -100 -100 -100 -100 -100 -100 -100 -100 -100 e");
  induction_config c{.vocab_size = 16, .seq_len = 32, .num_train = 200, .num_test = 20, .test_seq_lens = {32, 256}};
  const dataset d = build(c, 9);
  validate(d);
  EXPECT_TRUE(same(d, build(c, 9)));
  EXPECT_EQ(overlap(d), 0u);
  const std::int32_t star = d.vocab.id("*");
  for (const auto* split : {&d.train, &d.test})
    for (const auto& ex : *split) {
      ASSERT_EQ(std::count(ex.input.begin(), ex.input.end(), star), 2);
      ASSERT_EQ(ex.input.back(), star);
      const auto first = static_cast<std::size_t>(std::find(ex.input.begin(), ex.input.end(), star) - ex.input.begin());
      ASSERT_EQ(ex.target.back(), ex.input[first + 1]);
      ASSERT_EQ(std::count(ex.target.begin(), ex.target.end(), ignore_index),
                static_cast<std::ptrdiff_t>(ex.target.size() - 1));
    }
  EXPECT_EQ(d.test.back().input.size(), 256u);
}
