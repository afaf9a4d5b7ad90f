// The knowledge lab's generators: determinism, exact counts, the held-out people and the
// reverse split (no (B, A) order of a tested pair anywhere in training), key-value positions.
#include "knowledge/kb.hpp"

#include <gtest/gtest.h>

#include <set>

#include "knowledge/context.hpp"
#include "knowledge/relations.hpp"
#include "knowledge/runners.hpp"
#include "tasks/registry.hpp"

using namespace lmlab;
using namespace lmlab::knowledge;

namespace {
bool same(const tasks::dataset& a, const tasks::dataset& b) {
  if (a.train.size() != b.train.size() || a.test.size() != b.test.size()) return false;
  for (std::size_t i = 0; i < a.train.size(); ++i)
    if (a.train[i].input != b.train[i].input || a.train[i].target != b.train[i].target) return false;
  for (std::size_t i = 0; i < a.test.size(); ++i)
    if (a.test[i].input != b.test[i].input || a.test[i].target != b.test[i].target || a.test[i].slice != b.test[i].slice)
      return false;
  return true;
}
std::size_t count_slice(const std::vector<tasks::example>& v, const std::string& prefix) {
  std::size_t n = 0;
  for (const auto& e : v) n += e.slice.rfind(prefix, 0) == 0;
  return n;
}
// Whether `needle` occurs in `hay` as a contiguous run.
bool contains_run(const std::vector<std::int32_t>& hay, const std::vector<std::int32_t>& needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}
}  // namespace

TEST(knowledge_kb, people_are_distinct_and_deterministic) {
  EXPECT_EQ(max_people(), 960);  // add_kb_params' bound on num_people
  const auto a = make_people(300, 0.5, 7), b = make_people(300, 0.5, 7), c = make_people(300, 0.5, 8);
  std::set<std::string> names;
  for (const auto& p : a) names.insert(p.first + " " + p.last);
  EXPECT_EQ(names.size(), 300u);
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_EQ(a[i].value, b[i].value);
    EXPECT_EQ(a[i].qa_in_train, i < 150);
  }
  std::size_t differ = 0;
  for (std::size_t i = 0; i < a.size(); ++i) differ += a[i].first + a[i].last != c[i].first + c[i].last;
  EXPECT_GT(differ, 250u);
  EXPECT_THROW(make_people(961, 0.5, 0), lmlab::error);
}

TEST(knowledge_kb, exact_counts_and_slices) {
  kb_config c;
  c.num_people = 40;
  c.qa_fraction = 0.25;  // 10 QA people, 30 held out
  c.phrasings = 3;
  c.finetune_steps = 1;
  const auto d = build(c, 1);
  EXPECT_EQ(d.train.size(), 40u * 3 + 10u * 5);
  EXPECT_EQ(count_slice(d.train, "bio"), 120u);
  EXPECT_EQ(count_slice(d.train, "qa"), 50u);
  EXPECT_EQ(d.test.size(), 10u * 5 + 30u * 10);
  EXPECT_EQ(count_slice(d.test, "qa_seen/"), 50u);
  EXPECT_EQ(count_slice(d.test, "storage/"), 150u);
  EXPECT_EQ(count_slice(d.test, "extract/"), 150u);
  EXPECT_EQ(count_slice(d.test, "extract/city"), 30u);
  tasks::validate(d);
  EXPECT_TRUE(same(d, build(c, 1)));
  EXPECT_FALSE(same(d, build(c, 2)));
}

TEST(knowledge_kb, held_out_people_have_no_qa_in_training_but_their_biographies) {
  kb_config c;
  c.num_people = 20;
  c.finetune_steps = 1;
  const auto d = build(c, 3);
  const auto people = make_people(20, 0.5, 3);
  for (const auto& p : people) {
    const std::vector<std::int32_t> name = {d.vocab.id(p.first), d.vocab.id(p.last)};
    std::size_t bios = 0, qa = 0;
    for (const auto& e : d.train) {
      if (!contains_run(e.input, name)) continue;
      (e.slice == "bio" ? bios : qa) += 1;
    }
    EXPECT_EQ(bios, 1u) << p.first << " " << p.last;
    EXPECT_EQ(qa, p.qa_in_train ? 5u : 0u) << p.first << " " << p.last;
  }
  // The storage prompts are prefixes of a training biography, and the answer follows in it.
  for (const auto& e : d.test) {
    if (e.slice.rfind("storage/", 0) != 0) continue;
    bool found = false;
    for (const auto& t : d.train)
      found = found || (t.input.size() >= e.input.size() && std::equal(e.input.begin(), e.input.end(), t.input.begin()));
    EXPECT_TRUE(found) << e.prompt;
  }
}

TEST(knowledge_kb, unknown_and_unseen_people) {
  kb_config c;
  c.num_people = 20;
  c.finetune_steps = 1;
  const auto base = build(c, 6);
  c.unknown_people = 8;
  c.unseen_people = 6;
  const auto d = build(c, 6);
  EXPECT_EQ(d.train.size(), base.train.size() + 8u * 5);
  EXPECT_EQ(d.test.size(), base.test.size() + 6u * 5);
  EXPECT_EQ(count_slice(d.train, "qa/unknown"), 40u);
  EXPECT_EQ(count_slice(d.test, "unseen/"), 30u);
  // The knowledge base itself is the same people with the same facts.
  for (std::size_t i = 0; i < base.train.size(); ++i) EXPECT_EQ(base.train[i].input, d.train[i].input);
  // Unseen people's names appear in no training example; "unknown" people only in QA.
  const auto everyone = make_people(34, 0.0, 6);
  for (std::size_t i = 20; i < 34; ++i) {
    const std::vector<std::int32_t> name = {d.vocab.id(everyone[i].first), d.vocab.id(everyone[i].last)};
    std::size_t in_train = 0;
    for (const auto& e : d.train) {
      if (!contains_run(e.input, name)) continue;
      ++in_train;
      EXPECT_EQ(e.slice, "qa/unknown");
    }
    EXPECT_EQ(in_train, i < 28 ? 5u : 0u) << everyone[i].first << " " << everyone[i].last;
  }
  for (const auto& e : d.test) {
    if (e.slice.rfind("unseen/", 0) != 0) continue;
    EXPECT_EQ(e.answer, "unknown");
  }
  c.unseen_people = 940;
  EXPECT_THROW(check(c), tasks::param_error);
}

TEST(knowledge_kb, augmentation_knobs) {
  kb_config c;
  c.num_people = 30;
  c.finetune_steps = 1;
  const auto people = make_people(30, 0.5, 0);
  // Without fullname, only the first sentence names the person; with it, all five do.
  auto names_in = [&](const kb_config& k, const person& p, std::int64_t i) {
    const auto b = render_biography(p, i, 0, k, 0);
    std::size_t n = 0;
    for (std::size_t t = 0; t + 1 < b.tokens.size(); ++t) n += b.tokens[t] == p.first && b.tokens[t + 1] == p.last;
    return n;
  };
  kb_config full = c;
  full.fullname = true;
  for (std::size_t i = 0; i < people.size(); ++i) {
    EXPECT_EQ(names_in(c, people[i], static_cast<std::int64_t>(i)), 1u);
    EXPECT_EQ(names_in(full, people[i], static_cast<std::int64_t>(i)), 5u);
  }
  // Without permute the attribute order is fixed; with it, some biographies reorder.
  kb_config perm = c;
  perm.permute = true;
  std::size_t reordered = 0;
  for (std::size_t i = 0; i < people.size(); ++i) {
    const auto b = render_biography(people[i], static_cast<std::int64_t>(i), 0, c, 0);
    EXPECT_TRUE(std::is_sorted(b.value_pos.begin(), b.value_pos.end()));
    const auto q = render_biography(people[i], static_cast<std::int64_t>(i), 0, perm, 0);
    reordered += !std::is_sorted(q.value_pos.begin(), q.value_pos.end());
    for (std::size_t a = 0; a < attributes().size(); ++a)
      EXPECT_EQ(q.tokens[q.value_pos[a]], attributes()[a].values[static_cast<std::size_t>(people[i].value[a])]);
  }
  EXPECT_GT(reordered, 20u);  // 1 - 1/120 of orders are not the identity
  // Different phrasings of one person differ somewhere (4^5 template draws).
  std::size_t differ = 0;
  for (std::size_t i = 0; i < people.size(); ++i)
    differ += render_biography(people[i], static_cast<std::int64_t>(i), 0, c, 0).tokens !=
              render_biography(people[i], static_cast<std::int64_t>(i), 1, c, 0).tokens;
  EXPECT_GT(differ, 25u);
  // More biographies than templates: the first four are unchanged, and the 16 of one person are
  // pairwise different (new template combinations and orders, not copies of the first four).
  kb_config many = perm;
  many.phrasings = max_biographies;
  for (std::size_t i = 0; i < 5; ++i) {
    std::vector<std::vector<std::string>> bios;
    for (std::int64_t j = 0; j < max_biographies; ++j) {
      const auto b = render_biography(people[i], static_cast<std::int64_t>(i), j, many, 0);
      if (j < max_phrasings) {
        EXPECT_EQ(b.tokens, render_biography(people[i], static_cast<std::int64_t>(i), j, perm, 0).tokens);
      }
      for (std::size_t a = 0; a < attributes().size(); ++a)
        EXPECT_EQ(b.tokens[b.value_pos[a]], attributes()[a].values[static_cast<std::size_t>(people[i].value[a])]);
      bios.push_back(b.tokens);
    }
    std::sort(bios.begin(), bios.end());
    EXPECT_EQ(std::unique(bios.begin(), bios.end()), bios.end()) << "person " << i;
  }
}

TEST(knowledge_kb, bad_parameters_name_the_key) {
  register_knowledge();
  try {
    tasks::build_task({{"name", "biographies"}, {"num_people", 10}, {"qa_fraction", 0.01}, {"finetune_steps", 5}}, 0);
    FAIL() << "qa_fraction leaving no QA people was accepted";
  } catch (const tasks::param_error& e) {
    EXPECT_EQ(e.key(), "qa_fraction");
  }
  try {
    tasks::build_task({{"name", "biographies"}}, 0);  // pretrain_finetune without finetune steps
    FAIL();
  } catch (const tasks::param_error& e) {
    EXPECT_EQ(e.key(), "finetune_steps");
  }
  try {
    tasks::find_task("knowledge_edit").canonical({{"num_people", 10}, {"mode", "mixed"}, {"num_neighbours", 5}});
    FAIL() << "5 neighbours among 4 other QA people was accepted";
  } catch (const tasks::param_error& e) {
    EXPECT_EQ(e.key(), "num_neighbours");
  }
  EXPECT_THROW(tasks::find_task("biographies").canonical({{"phrasings", max_biographies + 1}}), tasks::param_error);
}

TEST(knowledge_reversal, counts_and_the_reverse_split_shares_no_b_a_pair_with_training) {
  reversal_config c;
  c.num_pairs = 50;
  c.both_fraction = 0.2;  // 10 pairs both ways
  c.phrasings = 3;
  c.num_random = 5;
  const auto d = build(c, 4);
  EXPECT_EQ(d.train.size(), 40u * 3 + 10u * 2 * 3);
  EXPECT_EQ(count_slice(d.test, "forward"), 40u);
  EXPECT_EQ(count_slice(d.test, "reverse"), 40u);
  EXPECT_EQ(count_slice(d.test, "both_reverse"), 10u);
  tasks::validate(d);
  const auto pairs = make_pairs(c, 4);
  std::size_t tested = 0;
  for (const auto& p : pairs) {
    auto ids = [&](const std::vector<std::string>& n) { return std::vector<std::int32_t>{d.vocab.id(n[0]), d.vocab.id(n[1])}; };
    const auto a = ids(p.a), b = ids(p.b);
    for (const auto& e : d.train) {
      const auto ia = std::search(e.input.begin(), e.input.end(), a.begin(), a.end());
      const auto ib = std::search(e.input.begin(), e.input.end(), b.begin(), b.end());
      if (ia == e.input.end() || ib == e.input.end()) continue;
      if (!p.both) {
        EXPECT_LT(ia, ib) << "a training statement puts B before A for a reverse-test pair";
        ++tested;
      }
    }
  }
  EXPECT_EQ(tested, 40u * 3);  // every forward statement of every forward-only pair was checked
  // Every reverse test example asks for A after B's name.
  for (const auto& e : d.test) {
    if (e.slice != "reverse") continue;
    EXPECT_NE(e.prompt.find("was mentored by"), std::string::npos);
  }
  EXPECT_TRUE(same(d, build(c, 4)));
}

TEST(knowledge_kv_position, every_position_equally_and_the_value_is_in_context) {
  kv_position_config c{.num_pairs = 6, .num_keys = 10, .num_values = 10, .num_train = 100, .num_test = 7};
  const auto d = build(c, 5);
  EXPECT_EQ(d.train.size(), 100u);
  EXPECT_EQ(d.test.size(), 42u);
  EXPECT_EQ(count_slice(d.test, "edge/first"), 7u);
  EXPECT_EQ(count_slice(d.test, "edge/last"), 7u);
  EXPECT_EQ(count_slice(d.test, "mid/"), 28u);
  tasks::validate(d);
  for (const auto& e : d.test) {
    // input: <bos> k v ... k v ? kq vq; the queried key's value in context is the answer.
    const std::size_t n = e.input.size();
    ASSERT_EQ(n, 1u + 2 * 6 + 2 + 1);
    const std::int32_t kq = e.input[n - 2], vq = e.input[n - 1];
    EXPECT_EQ(e.target[n - 2], vq);
    std::int64_t pos = -1;
    for (std::size_t i = 0; i < 6; ++i)
      if (e.input[1 + 2 * i] == kq) {
        EXPECT_EQ(pos, -1) << "keys are not distinct";
        pos = static_cast<std::int64_t>(i);
        EXPECT_EQ(e.input[2 + 2 * i], vq);
      }
    EXPECT_DOUBLE_EQ(e.difficulty, static_cast<double>(pos) / 5.0);
  }
  EXPECT_TRUE(same(d, build(c, 5)));
  c.num_pairs = 11;
  EXPECT_THROW(check(c), tasks::param_error);
}

TEST(knowledge_headers, the_header_examples_are_exact) {
  const kv_position_config kv{.num_pairs = 3, .num_keys = 8, .num_values = 8};
  const auto k = build(kv, 0);
  EXPECT_EQ(k.vocab.decode(k.train[0].input), "<bos> k7 v7 k6 v2 k5 v5 ? k6 v2");
  EXPECT_EQ(k.vocab.decode(k.train[0].target), "-100 -100 -100 -100 -100 -100 -100 -100 v2 -100");
  kb_config c;
  c.num_people = 2;
  c.finetune_steps = 1;
  const auto b = build(c, 0);
  EXPECT_EQ(b.vocab.decode(b.train[0].input),
            "<bos> umar yilmaz grew up in prague . he earned a degree at kaist . he specialized in history . he took a "
            "job at hooli . he marks a birthday every june .");
  EXPECT_EQ(b.vocab.decode(b.test[0].input), "<bos> where was umar yilmaz born ? prague");
  reversal_config r;
  r.num_pairs = 4;
  r.both_fraction = 0.5;
  r.num_random = 2;
  const auto v = build(r, 0);
  EXPECT_EQ(v.vocab.decode(v.train[0].input), "<bos> umar yilmaz mentored ruth ruiz .");
  EXPECT_EQ(v.test[0].slice, "both_reverse");
  EXPECT_EQ(v.vocab.decode(v.test[0].input), "<bos> ruth ruiz was mentored by umar yilmaz");
}
