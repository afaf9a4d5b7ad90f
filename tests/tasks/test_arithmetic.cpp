// Base-b arithmetic: the notes' 243₇ + 156₇ item, answers re-checked with 128-bit integers
// parsed from the text form, digit-length and base slices, held-out items absent from train.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "tasks/arithmetic.hpp"

using namespace lmlab::tasks;

namespace {

unsigned __int128 parse_base(const std::string& s, int base) {
  unsigned __int128 v = 0;
  for (char ch : s) v = v * static_cast<unsigned>(base) + static_cast<unsigned>(ch <= '9' ? ch - '0' : ch - 'A' + 10);
  return v;
}
std::string format_base(unsigned __int128 v, int base) {
  if (v == 0) return "0";
  std::string s;
  while (v) s.insert(s.begin(), "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[static_cast<int>(v % static_cast<unsigned>(base))]), v /= static_cast<unsigned>(base);
  return s;
}

// Re-derives the answer from the text form; returns the operand digit counts.
std::pair<std::size_t, std::size_t> recheck(const example& ex, const vocabulary& vocab, bool reversed) {
  static const std::regex re(R"(In base (\d+), compute ([0-9A-Z]+) ([+*]) ([0-9A-Z]+)\. .*)");
  std::smatch m;
  EXPECT_TRUE(std::regex_match(ex.prompt, m, re)) << ex.prompt;
  const int base = std::stoi(m[1]);
  const auto a = parse_base(m[2], base), b = parse_base(m[4], base);
  const std::string want = format_base(m[3] == "+" ? a + b : a * b, base);
  EXPECT_EQ(ex.answer, want) << ex.prompt;
  std::string tokens;
  for (std::size_t t = 0; t < ex.target.size(); ++t)
    if (ex.target[t] != ignore_index && vocab.token(ex.target[t]) != "<eos>") tokens += vocab.token(ex.target[t]);
  if (reversed) std::reverse(tokens.begin(), tokens.end());
  EXPECT_EQ(tokens, want);
  return {m[2].length(), m[4].length()};
}

}  // namespace

TEST(arithmetic, notes_item_base7) {
  arithmetic_config c{.bases = {7}, .min_digits = 3, .max_digits = 3, .num_train = 2, .num_test = 2};
  const dataset d = build(c, 0);
  const example ex = arithmetic_item(d, c, 7, "243", "156");
  EXPECT_EQ(format_example(d.vocab, ex),
            "Inputs: <bos> base 7 : 2 4 3 + 1 5 6 = 4 3 2\n"
            "Labels: -100 -100 -100 -100 -100 -100 -100 -100 -100 -100 -100 4 3 2 <eos>");
  EXPECT_EQ(ex.prompt, "In base 7, compute 243 + 156. Answer with the base-7 result only, no explanation.");
  EXPECT_EQ(ex.answer, "432");
  try {
    arithmetic_item(d, c, 7, "287", "1");
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_STREQ(e.what(), "arithmetic: '287' is not a base-7 number (digit '8')");
  }
}

TEST(arithmetic, digit_arithmetic_matches_int128) {
  lmlab::rng r(11);
  for (int i = 0; i < 2000; ++i) {
    const int base = static_cast<int>(r.range(2, 36));
    const auto a = static_cast<unsigned __int128>(r.next_u64() >> r.below(60));
    const auto b = static_cast<unsigned __int128>(r.next_u64() >> r.below(60));
    auto to_digits = [&](unsigned __int128 v) {
      digits d;
      do d.push_back(static_cast<std::uint8_t>(v % static_cast<unsigned>(base))), v /= static_cast<unsigned>(base);
      while (v);
      return d;
    };
    ASSERT_EQ(digits_to_string(add_digits(to_digits(a), to_digits(b), base)), format_base(a + b, base));
    ASSERT_EQ(digits_to_string(mul_digits(to_digits(a), to_digits(b), base)), format_base(a * b, base));
  }
}

TEST(arithmetic, labels_rechecked_and_slices) {
  for (const char* op : {"add", "mul"})
    for (bool reversed : {false, true}) {
      arithmetic_config c{.op = op, .bases = {2, 10, 16}, .min_digits = 1, .max_digits = 4, .ood_digits = {6, 9},
                          .ood_bases = {7}, .reverse_answer = reversed, .num_train = 300, .num_test = 50};
      const dataset d = build(c, 4);
      validate(d);
      ASSERT_EQ(d.train.size(), 300u);
      ASSERT_EQ(d.test.size(), 200u);
      std::set<std::string> train_prompts;
      for (const auto& ex : d.train) {
        const auto [da, db] = recheck(ex, d.vocab, reversed);
        ASSERT_LE(std::max(da, db), 4u);
        ASSERT_EQ(ex.slice, "id/d=" + std::to_string(std::max(da, db)));
        train_prompts.insert(ex.prompt);
      }
      std::map<std::string, int> slices;
      for (const auto& ex : d.test) {
        const auto [da, db] = recheck(ex, d.vocab, reversed);
        ++slices[ex.slice.substr(0, ex.slice.find('/'))];
        ASSERT_EQ(train_prompts.count(ex.prompt), 0u) << "test item in train: " << ex.prompt;
        if (ex.slice.rfind("ood_len/", 0) == 0) {
          ASSERT_EQ(da, db);
          ASSERT_EQ(ex.slice, "ood_len/d=" + std::to_string(da));
        }
        if (ex.slice == "ood_base/b=7") { ASSERT_EQ(ex.prompt.rfind("In base 7,", 0), 0u); }
      }
      EXPECT_EQ(slices["id"], 50);
      EXPECT_EQ(slices["ood_len"], 100);
      EXPECT_EQ(slices["ood_base"], 50);
    }
}

TEST(arithmetic, deterministic) {
  arithmetic_config c{.bases = {7}, .ood_digits = {5}, .num_train = 100, .num_test = 20};
  const dataset a = build(c, 3), b = build(c, 3), e = build(c, 4);
  for (std::size_t i = 0; i < a.train.size(); ++i) ASSERT_EQ(a.train[i].input, b.train[i].input);
  for (std::size_t i = 0; i < a.test.size(); ++i) ASSERT_EQ(a.test[i].input, b.test[i].input);
  bool differs = false;
  for (std::size_t i = 0; i < a.train.size(); ++i) differs = differs || a.train[i].input != e.train[i].input;
  EXPECT_TRUE(differs);
}

TEST(arithmetic, errors_name_the_key) {
  try {
    build(arithmetic_config{.max_digits = 3, .ood_digits = {3}}, 0);
    FAIL();
  } catch (const param_error& e) {
    EXPECT_EQ(e.key(), "ood_digits");
    EXPECT_STREQ(e.what(), "arithmetic: ood_digits: 3 is not beyond max_digits 3");
  }
  try {
    build(arithmetic_config{.bases = {10}, .ood_bases = {10}}, 0);
    FAIL();
  } catch (const param_error& e) {
    EXPECT_STREQ(e.what(), "arithmetic: ood_bases: base 10 is also a training base");
  }
  // Base 2, one digit: only 4 items, none may fall in the held-out partition.
  EXPECT_THROW(build(arithmetic_config{.bases = {2}, .max_digits = 1, .holdout = 0.01, .num_test = 5}, 0), param_error);
}
