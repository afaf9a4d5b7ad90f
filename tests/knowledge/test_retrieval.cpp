// The retrieval-vs-parametric generator (kb_context) and the shared hallucination classifier:
// exact counts, determinism, no training passage about a known or novel person, every
// conflict's passage value differs from the trained one, the frequency buckets hold the
// copies they say; the classifier's ranking, and the probe harness's rule table through it.
#include "knowledge/retrieval.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "analysis/hallucination.hpp"
#include "knowledge/kb.hpp"

using namespace lmlab;
using knowledge::retrieval_config;

namespace {
std::string text_of(const tasks::dataset& d, const tasks::example& e) { return d.vocab.decode(e.input); }
bool contains_words(const std::string& text, const std::string& w) { return (" " + text + " ").find(" " + w + " ") != std::string::npos; }
// A small world: the sizes a test names; the rest (distractors, missing_fraction) at their defaults.
retrieval_config world(std::int64_t people, std::int64_t max_copies, std::int64_t novel, std::int64_t context_train,
                       std::int64_t context_pool = retrieval_config{}.context_pool) {
  return {.num_people = people, .max_copies = max_copies, .novel_people = novel,
          .context_train = context_train, .context_pool = context_pool};
}
}  // namespace

TEST(knowledge_retrieval, exact_counts_buckets_and_determinism) {
  // 10 people; buckets 1, 2, 4, 8 dealt in turn: 3, 3, 2, 2 people
  const retrieval_config c = world(10, 8, 3, 50, 7);
  const auto rd = knowledge::build_retrieval(c, 5);
  const std::int64_t copies = 3 * 1 + 3 * 2 + 2 * 4 + 2 * 8;  // 33
  EXPECT_EQ(rd.ds.train.size(), static_cast<std::size_t>(copies * 6 + 50));
  EXPECT_EQ(rd.ds.test.size(), static_cast<std::size_t>(20 * 10 + 15 * 3));
  ASSERT_EQ(rd.items.size(), rd.ds.test.size());
  std::map<std::string, int> per_slice;
  for (const auto& e : rd.ds.test) ++per_slice[e.slice];
  EXPECT_EQ(per_slice.at("closed/f=1"), 15);
  EXPECT_EQ(per_slice.at("conflict/f=8"), 10);
  EXPECT_EQ(per_slice.at("novel/open"), 15);
  EXPECT_EQ(per_slice.size(), 4u * 4u + 3u);
  const auto again = knowledge::build_retrieval(c, 5);
  for (std::size_t i = 0; i < rd.ds.train.size(); ++i) ASSERT_EQ(rd.ds.train[i].input, again.ds.train[i].input) << i;
  for (std::size_t i = 0; i < rd.ds.test.size(); ++i) ASSERT_EQ(rd.ds.test[i].input, again.ds.test[i].input) << i;
  // A known person of bucket f: f biographies and f copies of each QA pair in training.
  const auto people = knowledge::make_people(c.num_people + c.novel_people + c.context_pool, 0.0, 5);
  for (std::size_t i = 0; i < 4; ++i) {
    const std::string name = people[i].first + " " + people[i].last;
    int bios = 0, qa = 0;
    for (const auto& e : rd.ds.train) {
      const std::string t = text_of(rd.ds, e);
      if (t.find(name) == std::string::npos) continue;
      if (e.slice == "bio") ++bios;
      if (e.slice == "qa") ++qa;
    }
    EXPECT_EQ(bios, 1 << i) << name;
    EXPECT_EQ(qa, 5 * (1 << i)) << name;
  }
}

TEST(knowledge_retrieval, passages_in_training_are_about_context_people_only) {
  const retrieval_config c = world(8, 4, 4, 300, 6);
  const auto rd = knowledge::build_retrieval(c, 9);
  const auto people = knowledge::make_people(c.num_people + c.novel_people + c.context_pool, 0.0, 9);
  std::set<std::string> context_names;
  for (std::size_t i = static_cast<std::size_t>(c.num_people + c.novel_people); i < people.size(); ++i)
    context_names.insert(people[i].first + " " + people[i].last);
  int missing = 0, n = 0;
  for (const auto& e : rd.ds.train) {
    const std::string t = text_of(rd.ds, e);
    for (std::size_t i = 0; i < static_cast<std::size_t>(c.num_people + c.novel_people); ++i) {
      const std::string name = people[i].first + " " + people[i].last;
      if (i >= static_cast<std::size_t>(c.num_people)) {
        ASSERT_EQ(t.find(name), std::string::npos) << "novel person in training: " << t;
      }
      if (e.slice.rfind("context", 0) == 0) {
        ASSERT_EQ(t.find(name), std::string::npos) << "a passage about a known person: " << t;
      }
    }
    if (e.slice.rfind("context", 0) != 0) continue;
    ++n;
    missing += e.slice == "context/missing";
    bool ok = false;
    for (const auto& name : context_names) ok = ok || t.find(name) != std::string::npos;
    EXPECT_TRUE(ok) << t;
    EXPECT_EQ(e.answer == "unknown", e.slice == "context/missing") << t;
    if (e.slice == "context") {
      EXPECT_TRUE(contains_words(t.substr(0, t.find(" question ")), e.answer)) << "the answer is in the passage: " << t;
    }
  }
  EXPECT_EQ(n, 300);
  EXPECT_GT(missing, 300 * 0.25 - 30);  // missing_fraction 0.25, binomial sd ~7.5
  EXPECT_LT(missing, 300 * 0.25 + 30);
}

TEST(knowledge_retrieval, conflict_agree_missing_and_novel_items) {
  const retrieval_config c = world(8, 2, 4, 10, 4);
  const auto rd = knowledge::build_retrieval(c, 3);
  const std::int32_t unknown = rd.ds.vocab.id("unknown");
  for (std::size_t i = 0; i < rd.items.size(); ++i) {
    const auto& it = rd.items[i];
    const auto& e = rd.ds.test[i];
    const std::string t = text_of(rd.ds, e);
    const std::string passage = t.substr(0, t.find(" question "));
    EXPECT_EQ(e.answer, rd.ds.vocab.token(it.gold)) << e.slice;
    if (e.slice.rfind("conflict/", 0) == 0) {
      EXPECT_EQ(it.gold, it.context_value);
      EXPECT_NE(it.context_value, it.memory_value);
      EXPECT_TRUE(contains_words(passage, rd.ds.vocab.token(it.context_value))) << t;
      EXPECT_FALSE(contains_words(passage, rd.ds.vocab.token(it.memory_value))) << t;
    } else if (e.slice.rfind("agree/", 0) == 0) {
      EXPECT_EQ(it.context_value, it.memory_value);
      EXPECT_TRUE(contains_words(passage, e.answer)) << t;
    } else if (e.slice.rfind("missing/", 0) == 0 || e.slice.rfind("closed/", 0) == 0) {
      EXPECT_EQ(it.context_value, -1);
      EXPECT_EQ(it.gold, it.memory_value);
      EXPECT_FALSE(contains_words(passage, e.answer)) << "the asked value is not in the passage: " << t;
    } else if (e.slice == "novel/open") {
      EXPECT_EQ(it.memory_value, -1);
      EXPECT_EQ(it.gold, it.context_value);
    } else {
      EXPECT_TRUE(e.slice == "novel/missing" || e.slice == "novel/closed") << e.slice;
      EXPECT_EQ(it.gold, unknown);
    }
  }
}

TEST(knowledge_retrieval, bad_parameters_name_the_key) {
  retrieval_config c;
  c.max_copies = 6;
  try {
    knowledge::build_retrieval(c, 0);
    FAIL();
  } catch (const tasks::param_error& e) {
    EXPECT_NE(std::string(e.what()).find("power of 2"), std::string::npos) << e.what();
  }
  c.max_copies = 8;
  c.num_people = 3;
  EXPECT_THROW(knowledge::build_retrieval(c, 0), tasks::param_error);
}

TEST(knowledge_retrieval, header_example_is_exact) {
  const retrieval_config c = world(4, 2, 2, 4);
  const auto rd = knowledge::build_retrieval(c, 0);
  std::size_t i = 0;
  while (rd.ds.test[i].slice != "conflict/f=1") ++i;
  EXPECT_EQ(rd.ds.vocab.decode(rd.ds.test[i].input),
            "<bos> passage umar yilmaz grew up in hanoi . umar yilmaz joined hooli . question where was umar yilmaz born ? hanoi");
  EXPECT_EQ(rd.ds.test[i].answer, "hanoi");
  EXPECT_NE(rd.items[i].memory_value, rd.ds.vocab.id("hanoi"));
}

// ---- the classifier ---------------------------------------------------------------------

TEST(hallucination_classifier, ranks_the_evidence) {
  using analysis::answer_label;
  const auto cl = [](bool gold, bool abst, bool contra, bool known) {
    return analysis::classify_answer({gold, abst, contra, known});
  };
  EXPECT_EQ(cl(true, true, true, false), answer_label::correct);  // gold first (abstaining where that is right)
  EXPECT_EQ(cl(false, true, true, false), answer_label::abstention);
  EXPECT_EQ(cl(false, false, true, false), answer_label::intrinsic);
  EXPECT_EQ(cl(false, false, false, false), answer_label::fabricated);
  EXPECT_EQ(cl(false, false, false, true), answer_label::extrinsic);
  std::set<std::string_view> names;
  for (auto l : analysis::all_answer_labels) names.insert(analysis::to_string(l));
  EXPECT_EQ(names, (std::set<std::string_view>{"correct", "abstention", "intrinsic", "fabricated", "extrinsic"}));
}

TEST(hallucination_classifier, lab_answers) {
  const retrieval_config c = world(4, 2, 2, 4);
  const auto rd = knowledge::build_retrieval(c, 1);
  const auto& v = rd.ds.vocab;
  std::size_t i = 0;
  while (rd.ds.test[i].slice.rfind("conflict/", 0) != 0) ++i;
  const auto& it = rd.items[i];
  const auto label = [&](std::int32_t answer) { return analysis::classify_answer(knowledge::evidence_of(it, answer, v)); };
  EXPECT_EQ(label(it.context_value), analysis::answer_label::correct);      // follows the passage
  EXPECT_EQ(label(it.memory_value), analysis::answer_label::intrinsic);     // contradicts it with the trained value
  EXPECT_EQ(label(v.id("unknown")), analysis::answer_label::abstention);
  EXPECT_EQ(label(v.id("question")), analysis::answer_label::intrinsic);    // a passage stated the value: any other contradicts
  // Closed-book: nothing to contradict; a value of another attribute is a fabricated entity.
  std::size_t j = 0;
  while (rd.ds.test[j].slice.rfind("closed/", 0) != 0) ++j;
  const auto& cj = rd.items[j];
  const auto& values = knowledge::attributes()[cj.attr].values;
  const std::int32_t wrong = v.id(values[0]) == cj.gold ? v.id(values[1]) : v.id(values[0]);
  const std::string other_kind = knowledge::attributes()[(cj.attr + 1) % knowledge::attributes().size()].values[0];
  EXPECT_EQ(analysis::classify_answer(knowledge::evidence_of(cj, wrong, v)), analysis::answer_label::extrinsic);
  EXPECT_EQ(analysis::classify_answer(knowledge::evidence_of(cj, v.id(other_kind), v)), analysis::answer_label::fabricated);
}
