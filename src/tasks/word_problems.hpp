// Templated grade-school word problems in the spirit of GSM-Symbolic (Mirzadeh et al. 2024,
// "GSM-Symbolic: Understanding the limitations of mathematical reasoning in LLMs"), from our
// own templates (13, four also in Korean): each template has typed variables with ranges and
// an "original" value, name slots (person, fruit, object ...), and an answer function; an
// instance is kept only when every intermediate result is a non-negative integer.
// Variants (the slice of each test example, "variant=<v>"):
//   original  the template's own numbers and names      numbers  new numbers, same names
//   names     new names, same numbers                   both     new numbers and names
//   noop      `both` plus an irrelevant clause (GSM-NoOp: the answer does not change)
//   steps     `both` plus one more reasoning step (GSM-P1: the answer changes)
// Difficulty is the number of arithmetic operations. No test text occurs in train, and
// when `original` is a test variant no original instance is drawn for train.
// Token form: words, punctuation and single digits are tokens; the vocabulary is fixed by
// the templates and name lists (it does not depend on the seed).
//
// word_problems_config{.templates = {"fruit_buy"}, .train_variants = {"original"}} has the
// instance (text form "Sophie has 5 apples. Sophie buys 3 more apples at the market. How
// many apples does Sophie have now?" -> "8"):
//   Inputs: <bos> Sophie has 5 apples . Sophie buys 3 more apples at the market . How many apples does Sophie have now ? <sep> 8
//   Labels: -100 -100 -100 -100 -100 -100 -100 -100 -100 -100 -100 -100 -100 -100 -100 -100 -100 -100 -100 -100 -100 -100 -100 8 <eos>
//
// Not for: free-form natural-language problems or grading chain-of-thought (probe/).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tasks/dataset.hpp"
#include "tasks/params.hpp"

namespace lmlab::tasks {

struct word_problems_config {
  std::vector<std::string> templates;  // template ids; empty: all (for the language)
  std::string language = "en";         // en | ko
  std::vector<std::string> train_variants = {"both"};
  std::vector<std::string> test_variants = {"original", "numbers", "names", "both", "noop", "steps"};
  std::int64_t num_train = 1000;
  std::int64_t num_test = 100;  // per test variant
};

// One instance, with its values and names (tests re-derive answers from them).
struct word_problem {
  std::string template_id;
  std::string variant;
  std::map<std::string, std::int64_t> values;
  std::map<std::string, std::string> names;
  std::string text;  // problem and question
  std::int64_t answer = 0;
  int operations = 0;
};

// Template ids available in `language` ("en" has all, "ko" a subset).
std::vector<std::string> word_problem_templates(const std::string& language);
// One instance of a template and variant drawn from `r`.
word_problem sample_word_problem(const std::string& template_id, const std::string& variant,
                                 const std::string& language, rng& r);

const param_table<word_problems_config>& word_problems_params();
void check(const word_problems_config& c);
dataset build(const word_problems_config& c, std::uint64_t seed);

// Splits text into tokens: whitespace-separated words, each split further into single
// digits, single punctuation characters and the runs between them.
std::vector<std::string> word_tokens(const std::string& text);

}  // namespace lmlab::tasks
