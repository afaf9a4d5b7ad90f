// Templated word problems: template count, the header example, every template x variant with
// its answer re-derived from the sampled values by a formula written independently here,
// the variant contracts (what changes and what does not), determinism, disjoint splits.
#include <gtest/gtest.h>

#include <functional>
#include <set>

#include "tasks/word_problems.hpp"

using namespace lmlab::tasks;

namespace {

using V = std::map<std::string, std::int64_t>;
struct formula {
  std::function<std::int64_t(const V&)> base, step;
};
// Written from the problem texts, not copied from the templates.
const std::map<std::string, formula>& formulas() {
  static const std::map<std::string, formula> f = {
      {"fruit_buy", {[](const V& v) { return v.at("a") + v.at("b"); }, [](const V& v) { return v.at("a") + v.at("b") - v.at("d"); }}},
      {"share_equally", {[](const V& v) { return v.at("a") / v.at("n"); }, [](const V& v) { return v.at("a") / v.at("n") + v.at("d"); }}},
      {"reading_pages", {[](const V& v) { return v.at("a") - v.at("n") * v.at("b"); }, [](const V& v) { return v.at("a") - v.at("n") * v.at("b") - v.at("d"); }}},
      {"hourly_wage", {[](const V& v) { return v.at("a") * v.at("h") + v.at("a") * v.at("k"); }, [](const V& v) { return v.at("a") * v.at("h") + v.at("a") * v.at("k") - v.at("d"); }}},
      {"store_boxes", {[](const V& v) { return v.at("a") * v.at("n") - v.at("b"); }, [](const V& v) { return v.at("a") * (v.at("n") + v.at("d")) - v.at("b"); }}},
      {"ages", {[](const V& v) { return v.at("a") + v.at("b") + v.at("n"); }, [](const V& v) { return v.at("a") + v.at("b") - v.at("d") + v.at("n"); }}},
      {"train_distance", {[](const V& v) { return v.at("h") * v.at("s"); }, [](const V& v) { return v.at("h") * v.at("s") + v.at("d"); }}},
      {"cookie_trays", {[](const V& v) { return v.at("a") * v.at("n") - v.at("b"); }, [](const V& v) { return (v.at("a") * v.at("n") - v.at("b")) / v.at("k"); }}},
      {"weekly_savings", {[](const V& v) { return v.at("w") * v.at("a") - v.at("c"); }, [](const V& v) { return v.at("w") * v.at("a") - v.at("c") + v.at("d"); }}},
      {"classroom", {[](const V& v) { return v.at("a") - v.at("b"); }, [](const V& v) { return v.at("k") * (v.at("a") - v.at("b")); }}},
      {"garden_rows", {[](const V& v) { return v.at("a") * v.at("r") - v.at("b"); }, [](const V& v) { return v.at("a") * v.at("r") - v.at("b") - v.at("d"); }}},
      {"movie_tickets", {[](const V& v) { return v.at("n") * v.at("a") + v.at("k") * v.at("c"); }, [](const V& v) { return 10 * v.at("m") - v.at("n") * v.at("a") - v.at("k") * v.at("c"); }}},
      {"half_marbles", {[](const V& v) { return v.at("a") / 2 + v.at("b"); }, [](const V& v) { return v.at("a") / 2 + v.at("b") - v.at("d"); }}},
  };
  return f;
}

std::string mask_digits(std::string s) {
  for (auto& ch : s)
    if (ch >= '0' && ch <= '9') ch = '#';
  return s;
}
// The numbers of a text, in order, space-separated.
std::string digits_only(const std::string& s) {
  std::string d;
  for (char ch : s) {
    if (ch >= '0' && ch <= '9') d.push_back(ch);
    else if (!d.empty() && d.back() != ' ') d.push_back(' ');
  }
  return d;
}

}  // namespace

TEST(word_problems, templates_and_languages) {
  const auto en = word_problem_templates("en");
  EXPECT_EQ(en.size(), 13u);
  EXPECT_EQ(word_problem_templates("ko"),
            (std::vector<std::string>{"fruit_buy", "share_equally", "reading_pages", "train_distance"}));
  for (const auto& id : en) EXPECT_TRUE(formulas().count(id)) << id;
}

TEST(word_problems, header_example_is_literal) {
  word_problems_config c{.templates = {"fruit_buy"}, .train_variants = {"original"}, .test_variants = {}, .num_train = 1};
  const dataset d = build(c, 0);
  EXPECT_EQ(format_example(d.vocab, d.train[0]),
            "Inputs: <bos> Sophie has 5 apples . Sophie buys 3 more apples at the market . How many apples does Sophie "
            "have now ? <sep> 8\nLabels: -100 -100 -100 -100 -100 -100 -100 -100 -100 -100 -100 -100 -100 -100 -100 "
            "-100 -100 -100 -100 -100 -100 -100 -100 8 <eos>");
  EXPECT_EQ(d.train[0].answer, "8");
}

TEST(word_problems, every_template_and_variant_rechecked) {
  for (const char* lang : {"en", "ko"})
    for (const auto& id : word_problem_templates(lang)) {
      lmlab::rng r0(1);
      const word_problem orig = sample_word_problem(id, "original", lang, r0);
      ASSERT_EQ(orig.answer, formulas().at(id).base(orig.values)) << id;
      for (const char* variant : {"original", "numbers", "names", "both", "noop", "steps"})
        for (std::uint64_t s = 0; s < 40; ++s) {
          lmlab::rng r(s, 77);
          const word_problem wp = sample_word_problem(id, variant, lang, r);
          const std::string v = variant;
          ASSERT_GE(wp.answer, 0) << wp.text;
          const auto& f = formulas().at(id);
          ASSERT_EQ(wp.answer, v == "steps" ? f.step(wp.values) : f.base(wp.values)) << wp.text;
          if (v == "steps") { ASSERT_GE(f.base(wp.values), 0) << wp.text; }  // intermediate results stay valid
          if (v == "original") { ASSERT_EQ(wp.text, orig.text); }
          if (v == "numbers") { ASSERT_EQ(wp.names, orig.names) << wp.text; }
          if (v == "names") { ASSERT_EQ(wp.values, orig.values); }
          if (v == "numbers" && wp.values != orig.values) { ASSERT_NE(wp.text, orig.text); }
          ASSERT_EQ(wp.operations, orig.operations + (v == "steps" ? (id == "store_boxes" || id == "movie_tickets" ? 2 : 1) : 0));
        }
    }
}

TEST(word_problems, numbers_variant_changes_only_numbers) {
  // With the original names, masking the digits must give the original text back (except
  // for the number of digits, so compare after collapsing runs of '#').
  auto collapse = [](std::string s) {
    s = mask_digits(s);
    std::string o;
    for (char ch : s)
      if (!(ch == '#' && !o.empty() && o.back() == '#')) o.push_back(ch);
    return o;
  };
  for (const auto& id : word_problem_templates("en")) {
    lmlab::rng r0(1), r(5);
    const auto orig = sample_word_problem(id, "original", "en", r0);
    const auto num = sample_word_problem(id, "numbers", "en", r);
    EXPECT_EQ(collapse(num.text), collapse(orig.text)) << id;
    const auto nam = sample_word_problem(id, "names", "en", r);
    EXPECT_EQ(digits_only(nam.text), digits_only(orig.text)) << id;  // numbers in the same places
  }
}

TEST(word_problems, noop_keeps_the_answer_and_adds_a_sentence) {
  for (const auto& id : word_problem_templates("en")) {
    lmlab::rng r(3);
    const auto wp = sample_word_problem(id, "noop", "en", r);
    EXPECT_EQ(wp.answer, formulas().at(id).base(wp.values)) << id;
    EXPECT_EQ(std::count(wp.text.begin(), wp.text.end(), '.') + std::count(wp.text.begin(), wp.text.end(), '?'),
              [&] {
                lmlab::rng r2(3);
                const auto both = sample_word_problem(id, "both", "en", r2);
                return std::count(both.text.begin(), both.text.end(), '.') +
                       std::count(both.text.begin(), both.text.end(), '?') + 1;
              }())
        << wp.text;
  }
}

TEST(word_problems, korean_particles) {
  lmlab::rng r(0);
  const auto wp = sample_word_problem("fruit_buy", "original", "ko", r);
  EXPECT_EQ(wp.text,
            "민준은 사과를 5개 가지고 있습니다. 민준은 시장에서 사과를 3개 더 삽니다. 민준은 지금 사과를 몇 개 가지고 있습니까?");
  EXPECT_EQ(wp.answer, 8);
  bool saw_no_batchim = false;
  for (std::uint64_t s = 0; s < 200 && !saw_no_batchim; ++s) {
    lmlab::rng q(s);
    const auto n = sample_word_problem("fruit_buy", "names", "ko", q);
    if (n.names.at("p") == "지우") {
      EXPECT_NE(n.text.find("지우는 "), std::string::npos) << n.text;
      saw_no_batchim = true;
    }
  }
  EXPECT_TRUE(saw_no_batchim);
}

TEST(word_problems, build_is_deterministic_disjoint_and_valid) {
  word_problems_config c{.num_train = 400, .num_test = 30};
  const dataset a = build(c, 2), b = build(c, 2), other = build(c, 3);
  validate(a);
  EXPECT_EQ(a.vocab.tokens(), other.vocab.tokens());  // vocabulary independent of the seed
  ASSERT_EQ(a.test.size(), 180u);
  std::set<std::string> train;
  for (std::size_t i = 0; i < a.train.size(); ++i) {
    ASSERT_EQ(a.train[i].input, b.train[i].input);
    train.insert(a.train[i].prompt);
  }
  std::map<std::string, int> slices;
  for (const auto& ex : a.test) {
    ASSERT_EQ(train.count(ex.prompt), 0u) << ex.prompt;
    ++slices[ex.slice];
  }
  EXPECT_EQ(slices.size(), 6u);
  EXPECT_EQ(slices["variant=noop"], 30);
  const dataset ko = build(word_problems_config{.language = "ko", .num_train = 50, .num_test = 5}, 1);
  validate(ko);
}

TEST(word_problems, config_errors) {
  try {
    build(word_problems_config{.templates = {"hourly_wage"}, .language = "ko"}, 0);
    FAIL();
  } catch (const param_error& e) {
    EXPECT_EQ(e.key(), "templates");
    EXPECT_STREQ(e.what(), "word_problems: templates: 'hourly_wage' has no 'ko' rendering");
  }
  try {
    build(word_problems_config{.templates = {"fruit_by"}}, 0);
    FAIL();
  } catch (const param_error& e) {
    EXPECT_STREQ(e.what(), "word_problems: templates: unknown template 'fruit_by'");
    EXPECT_EQ(e.hint(), "did you mean 'fruit_buy'?");
  }
  EXPECT_THROW(build(word_problems_config{.train_variants = {"original"}}, 0), param_error);
}
