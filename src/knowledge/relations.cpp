// Relation pairs for the reversal test: see relations.hpp.
#include "knowledge/relations.hpp"

#include <cmath>

#include "knowledge/kb.hpp"

namespace lmlab::knowledge {

namespace {
using words = std::vector<std::string>;
// Forward templates put A first, reverse templates B first; "{A}"/"{B}" are full names.
const std::vector<words>& forward_templates() {
  static const std::vector<words> t = {{"{A}", "mentored", "{B}", "."},
                                       {"{A}", "was", "the", "mentor", "of", "{B}", "."},
                                       {"{A}", "guided", "{B}", "."}};
  return t;
}
const std::vector<words>& reverse_templates() {
  static const std::vector<words> t = {{"{B}", "was", "mentored", "by", "{A}", "."},
                                       {"{B}", "learned", "from", "{A}", "."},
                                       {"{B}", "was", "guided", "by", "{A}", "."}};
  return t;
}
words render(const words& tmpl, const relation_pair& p) {
  words out;
  for (const auto& w : tmpl) {
    const words* name = w == "{A}" ? &p.a : w == "{B}" ? &p.b : nullptr;
    if (name) out.insert(out.end(), name->begin(), name->end());
    else out.push_back(w);
  }
  return out;
}
// The rendered template cut before its last name (the answer) and its final ".".
words prompt_of(const words& tmpl, const relation_pair& p) {
  words full = render(tmpl, p);
  full.resize(full.size() - 3);  // answer (2 tokens) + "."
  return full;
}
}  // namespace

const tasks::param_table<reversal_config>& reversal_params() {
  static const auto t = tasks::param_table<reversal_config>("reversal")
        .add("num_pairs", &reversal_config::num_pairs, "relation pairs (A, B)", 2, static_cast<double>(max_people() / 2))
        .add("both_fraction", &reversal_config::both_fraction, "share of pairs trained in both directions", 0.0, 1.0)
        .add("phrasings", &reversal_config::phrasings, "templates per direction", 1, 3)
        .add("num_random", &reversal_config::num_random, "random names compared by log-probability", 1, 1000);
  return t;
}

void check(const reversal_config& c) {
  const std::int64_t n_both = std::llround(static_cast<double>(c.num_pairs) * c.both_fraction);
  if (n_both == c.num_pairs)
    throw tasks::param_error("both_fraction", "reversal: both_fraction leaves no forward-only pair to test",
                             "lower both_fraction below 1");
  if (c.num_random > c.num_pairs - 1)
    throw tasks::param_error("num_random", fmt::format("reversal: num_random {} exceeds the {} other pairs' names",
                                                       c.num_random, c.num_pairs - 1));
}

std::vector<relation_pair> make_pairs(const reversal_config& c, std::uint64_t seed) {
  const auto people = make_people(2 * c.num_pairs, 0.0, seed);
  const std::int64_t n_both = std::llround(static_cast<double>(c.num_pairs) * c.both_fraction);
  std::vector<relation_pair> out;
  for (std::int64_t i = 0; i < c.num_pairs; ++i) {
    const person& a = people[static_cast<std::size_t>(2 * i)];
    const person& b = people[static_cast<std::size_t>(2 * i + 1)];
    out.push_back({{a.first, a.last}, {b.first, b.last}, i < n_both});
  }
  return out;
}

words forward_prompt(const relation_pair& p, std::size_t k) { return prompt_of(forward_templates().at(k), p); }
words reverse_prompt(const relation_pair& p, std::size_t k) { return prompt_of(reverse_templates().at(k), p); }

tasks::dataset build(const reversal_config& c, std::uint64_t seed) {
  check(c);
  tasks::dataset d;
  d.task = "reversal";
  d.vocab = kb_vocabulary();
  for (const auto* ts : {&forward_templates(), &reverse_templates()})
    for (const auto& t : *ts)
      for (const auto& w : t)
        if (w[0] != '{') d.vocab.add(w);
  d.pad_id = d.vocab.id("<pad>");
  const auto pairs = make_pairs(c, seed);
  for (const auto& p : pairs)
    for (std::size_t k = 0; k < static_cast<std::size_t>(c.phrasings); ++k) {
      d.train.push_back(lm_example(d.vocab, render(forward_templates()[k], p)));
      d.train.back().slice = "forward";
      if (!p.both) continue;
      d.train.push_back(lm_example(d.vocab, render(reverse_templates()[k], p)));
      d.train.back().slice = "reverse";
    }
  for (const auto& p : pairs) {
    if (p.both) {
      d.test.push_back(answer_example(d.vocab, reverse_prompt(p, 0), p.a, "both_reverse", 0));
      continue;
    }
    d.test.push_back(answer_example(d.vocab, forward_prompt(p, 0), p.b, "forward", 0));
    d.test.push_back(answer_example(d.vocab, reverse_prompt(p, 0), p.a, "reverse", 1));
  }
  return d;
}

}  // namespace lmlab::knowledge
