// Retrieval vs parametric vs conflicting context: see retrieval.hpp.
#include "knowledge/retrieval.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <numeric>

#include "core/error.hpp"
#include "knowledge/kb.hpp"

namespace lmlab::knowledge {

const tasks::param_table<retrieval_config>& retrieval_params() {
  static const auto t = tasks::param_table<retrieval_config>("kb_context")
        .add("num_people", &retrieval_config::num_people, "known people: facts in training", 1, 960)
        .add("max_copies", &retrieval_config::max_copies, "frequency buckets 1, 2, 4, ..., max_copies (a power of 2)", 1, 64)
        .add("novel_people", &retrieval_config::novel_people, "test-only people (never in training)", 1, 960)
        .add("context_train", &retrieval_config::context_train, "passage -> answer training examples about context people", 1, 1e7)
        .add("context_pool", &retrieval_config::context_pool, "names of context people", 1, 960)
        .add("distractors", &retrieval_config::distractors, "other sentences of the same person in every passage", 0, 3)
        .add("missing_fraction", &retrieval_config::missing_fraction, "share of training passages without the asked attribute", 0.0, 1.0);
  return t;
}

namespace {
std::int64_t n_buckets(const retrieval_config& c) { return std::bit_width(static_cast<std::uint64_t>(c.max_copies)); }
}  // namespace

void check(const retrieval_config& c) {
  if (!std::has_single_bit(static_cast<std::uint64_t>(c.max_copies)))
    throw tasks::param_error("max_copies", fmt::format("kb_context: max_copies {} is not a power of 2", c.max_copies),
                             "use 1, 2, 4, 8, ...");
  if (c.num_people < n_buckets(c))
    throw tasks::param_error("num_people",
                             fmt::format("kb_context: {} known people cannot fill {} frequency buckets", c.num_people, n_buckets(c)),
                             "raise num_people or lower max_copies");
  if (c.num_people + c.novel_people + c.context_pool > max_people())
    throw tasks::param_error("num_people",
                             fmt::format("kb_context: num_people + novel_people + context_pool = {} exceeds the {} distinct names",
                                         c.num_people + c.novel_people + c.context_pool, max_people()));
}

namespace {

using words = std::vector<std::string>;

// Template t of attribute a about p, with value index `value` and the full name as subject.
words sentence(const person& p, std::size_t a, std::size_t t, int value) {
  words out;
  for (const auto& w : attributes()[a].templates[t]) {
    if (w == "{S}") {
      out.push_back(p.first);
      out.push_back(p.last);
    } else if (w == "{X}") {
      out.push_back(attributes()[a].values[static_cast<std::size_t>(value)]);
    } else {
      out.push_back(w);
    }
  }
  return out;
}

// "passage <sentences> question <question>": the asked attribute's sentence (unless `include`
// is false) with value `value`, and `distractors` sentences of other attributes with p's
// values, in a random order; templates random.
words passage_prompt(const person& p, std::size_t a, bool include, int value, std::int64_t distractors, rng& r) {
  const std::size_t n_attr = attributes().size();
  std::vector<std::size_t> others;
  for (std::size_t b = 0; b < n_attr; ++b)
    if (b != a) others.push_back(b);
  for (std::size_t i = others.size() - 1; i > 0; --i) std::swap(others[i], others[static_cast<std::size_t>(r.below(i + 1))]);
  // A passage without the attribute keeps the same length: one more distractor.
  const std::size_t n_other = static_cast<std::size_t>(distractors) + (include ? 0 : 1);
  std::vector<std::pair<std::size_t, int>> parts;  // (attribute, value)
  if (include) parts.push_back({a, value});
  for (std::size_t i = 0; i < std::min(n_other, others.size()); ++i) parts.push_back({others[i], p.value[others[i]]});
  for (std::size_t i = parts.size() - 1; i > 0; --i) std::swap(parts[i], parts[static_cast<std::size_t>(r.below(i + 1))]);
  words out = {"passage"};
  for (const auto& [b, v] : parts) {
    const auto s = sentence(p, b, static_cast<std::size_t>(r.below(attributes()[b].templates.size())), v);
    out.insert(out.end(), s.begin(), s.end());
  }
  out.push_back("question");
  const auto q = question_tokens(p, a);
  out.insert(out.end(), q.begin(), q.end());
  return out;
}

words closed_prompt(const person& p, std::size_t a) {
  words out = {"question"};
  const auto q = question_tokens(p, a);
  out.insert(out.end(), q.begin(), q.end());
  return out;
}

int other_value(int v, std::size_t a, rng& r) {
  const auto n = attributes()[a].values.size();
  return static_cast<int>((static_cast<std::size_t>(v) + 1 + static_cast<std::size_t>(r.below(n - 1))) % n);
}

}  // namespace

retrieval_data build_retrieval(const retrieval_config& c, std::uint64_t seed) {
  check(c);
  retrieval_data out;
  tasks::dataset& d = out.ds;
  d.task = "kb_context";
  d.vocab = kb_vocabulary();
  d.vocab.add("passage");
  d.vocab.add("question");
  d.pad_id = d.vocab.id("<pad>");
  const auto everyone = make_people(c.num_people + c.novel_people + c.context_pool, 0.0, seed);
  const auto known = [&](std::int64_t i) -> const person& { return everyone[static_cast<std::size_t>(i)]; };
  const auto novel = [&](std::int64_t i) -> const person& { return everyone[static_cast<std::size_t>(c.num_people + i)]; };
  const auto& attrs = attributes();
  const auto value_word = [&](std::size_t a, int v) { return words{attrs[a].values[static_cast<std::size_t>(v)]}; };
  const auto value_id = [&](std::size_t a, int v) { return d.vocab.id(attrs[a].values[static_cast<std::size_t>(v)]); };
  const std::int32_t unknown = d.vocab.id("unknown");
  const std::int64_t nb = n_buckets(c);
  const auto copies_of = [&](std::int64_t i) { return std::int64_t{1} << (i % nb); };  // dealt in turn
  kb_config bio;
  bio.permute = true;
  bio.fullname = true;
  // Training: f biographies and f copies of each QA pair per known person.
  for (std::int64_t i = 0; i < c.num_people; ++i) {
    const std::int64_t f = copies_of(i);
    for (std::int64_t j = 0; j < f; ++j) {
      auto ex = lm_example(d.vocab, render_biography(known(i), i, j % max_phrasings, bio, seed).tokens);
      ex.slice = "bio";
      d.train.push_back(std::move(ex));
      for (std::size_t a = 0; a < attrs.size(); ++a)
        d.train.push_back(answer_example(d.vocab, closed_prompt(known(i), a), value_word(a, known(i).value[a]), "qa", 0));
    }
  }
  // Reading: passages about context people with fresh values per example.
  for (std::int64_t k = 0; k < c.context_train; ++k) {
    rng r = tasks::train_rng(seed, (1ull << 32) + static_cast<std::uint64_t>(k));
    person p = everyone[static_cast<std::size_t>(c.num_people + c.novel_people) +
                        static_cast<std::size_t>(r.below(static_cast<std::uint64_t>(c.context_pool)))];
    for (std::size_t a = 0; a < attrs.size(); ++a) p.value[a] = static_cast<int>(r.below(attrs[a].values.size()));
    const auto a = static_cast<std::size_t>(r.below(attrs.size()));
    const bool include = r.uniform() >= c.missing_fraction;
    d.train.push_back(answer_example(d.vocab, passage_prompt(p, a, include, p.value[a], c.distractors, r),
                                     include ? value_word(a, p.value[a]) : words{"unknown"}, include ? "context" : "context/missing", 0));
  }
  // Test.
  std::uint64_t j = 0;
  auto add = [&](words prompt, std::int32_t gold, std::string slice, double diff, retrieval_item it) {
    d.test.push_back(answer_example(d.vocab, prompt, {d.vocab.token(gold)}, std::move(slice), diff));
    it.gold = gold;
    out.items.push_back(it);
  };
  for (std::int64_t i = 0; i < c.num_people; ++i) {
    const person& p = known(i);
    const std::int64_t f = copies_of(i);
    const std::string fs = fmt::format("/f={}", f);
    const auto diff = static_cast<double>(i % nb);
    for (std::size_t a = 0; a < attrs.size(); ++a) {
      rng r = tasks::test_rng(seed, j++);
      const std::int32_t truth = value_id(a, p.value[a]);
      const int sub = other_value(p.value[a], a, r);
      add(closed_prompt(p, a), truth, "closed" + fs, diff, {a, -1, -1, truth});
      add(passage_prompt(p, a, true, p.value[a], c.distractors, r), truth, "agree" + fs, diff, {a, -1, truth, truth});
      add(passage_prompt(p, a, true, sub, c.distractors, r), value_id(a, sub), "conflict" + fs, diff, {a, -1, value_id(a, sub), truth});
      add(passage_prompt(p, a, false, 0, c.distractors, r), truth, "missing" + fs, diff, {a, -1, -1, truth});
    }
  }
  for (std::int64_t i = 0; i < c.novel_people; ++i) {
    const person& p = novel(i);
    for (std::size_t a = 0; a < attrs.size(); ++a) {
      rng r = tasks::test_rng(seed, j++);
      const std::int32_t v = value_id(a, p.value[a]);
      add(passage_prompt(p, a, true, p.value[a], c.distractors, r), v, "novel/open", -1, {a, -1, v, -1});
      add(passage_prompt(p, a, false, 0, c.distractors, r), unknown, "novel/missing", -1, {a, -1, -1, -1});
      add(closed_prompt(p, a), unknown, "novel/closed", -1, {a, -1, -1, -1});
    }
  }
  return out;
}

tasks::dataset build(const retrieval_config& c, std::uint64_t seed) { return build_retrieval(c, seed).ds; }

analysis::answer_evidence evidence_of(const retrieval_item& it, std::int32_t answer, const tasks::vocabulary& v) {
  analysis::answer_evidence e;
  e.matches_gold = answer == it.gold;
  e.abstained = answer == v.id("unknown");
  e.contradicts_context = it.context_value >= 0 && answer != it.context_value;
  const auto& values = attributes()[it.attr].values;
  e.known_entity = std::find(values.begin(), values.end(), v.token(answer)) != values.end();
  return e;
}

}  // namespace lmlab::knowledge
