// Tests of the shared dataset representation: prompt/answer layout, batching, exact match,
// per-slice accuracy, parameter tables.
#include <gtest/gtest.h>

#include "tasks/dataset.hpp"
#include "tasks/mqar.hpp"
#include "tasks/params.hpp"

using namespace lmlab::tasks;

TEST(dataset, prompt_answer_layout) {
  const std::vector<std::int32_t> p{5, 6, 7}, a{8, 9};
  const example ex = make_prompt_answer(p, a, /*bos=*/1, /*eos=*/2);
  EXPECT_EQ(ex.input, (std::vector<std::int32_t>{1, 5, 6, 7, 8, 9}));
  EXPECT_EQ(ex.target, (std::vector<std::int32_t>{-100, -100, -100, 8, 9, 2}));
}

TEST(dataset, batch_pads_inputs_and_ignores_targets) {
  std::vector<example> v(2);
  v[0].input = {1, 2, 3};
  v[0].target = {-100, 3, 4};
  v[1].input = {7};
  v[1].target = {8};
  const std::vector<std::size_t> idx{1, 0};
  const batch b = make_batch(v, idx, /*pad_id=*/0);
  EXPECT_EQ(b.B, 2);
  EXPECT_EQ(b.T, 3);
  EXPECT_EQ(b.input, (std::vector<std::int32_t>{7, 0, 0, 1, 2, 3}));
  EXPECT_EQ(b.target, (std::vector<std::int32_t>{8, -100, -100, -100, 3, 4}));
  try {
    make_batch(v, idx, 0, 2);
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_STREQ(e.what(), "make_batch: an example has 3 tokens, more than T = 2");
  }
}

TEST(dataset, exact_match_and_slices) {
  std::vector<example> v(3);
  for (int i = 0; i < 3; ++i) {
    v[i].input = {1, 2};
    v[i].target = {-100, 5};
    v[i].slice = i < 2 ? "len=2" : "len=4";
    v[i].difficulty = i < 2 ? 2 : 4;
  }
  const std::vector<std::vector<std::int32_t>> pred{{9, 5}, {9, 4}, {0, 5}};
  EXPECT_TRUE(exact_match(v[0], pred[0]));  // unsupervised position 0 does not count
  EXPECT_FALSE(exact_match(v[1], pred[1]));
  const auto acc = accuracy_by_slice(v, pred);
  ASSERT_EQ(acc.size(), 2u);
  EXPECT_EQ(acc[0].slice, "len=2");
  EXPECT_EQ(acc[0].n, 2);
  EXPECT_DOUBLE_EQ(acc[0].accuracy(), 0.5);
  EXPECT_EQ(acc[1].slice, "len=4");
  EXPECT_DOUBLE_EQ(acc[1].accuracy(), 1.0);
}

// A slice spanning several difficulties (SCAN's "and" over action counts) is one entry with the
// mean difficulty; it used to be one entry per (difficulty, slice), and the store kept the last.
TEST(dataset, a_slice_with_several_difficulties_is_one_entry) {
  std::vector<example> v(4);
  for (int i = 0; i < 4; ++i) {
    v[i].input = {1, 2};
    v[i].target = {-100, 5};
    v[i].slice = i < 3 ? "and" : "single";
    v[i].difficulty = i < 3 ? 2.0 + 2 * i : 1.0;  // and: 2, 4, 6
  }
  const std::vector<std::vector<std::int32_t>> pred{{0, 5}, {0, 5}, {0, 4}, {0, 4}};
  const auto acc = accuracy_by_slice(v, pred);
  ASSERT_EQ(acc.size(), 2u);
  EXPECT_EQ(acc[0].slice, "single");
  EXPECT_EQ(acc[1].slice, "and");
  EXPECT_EQ(acc[1].n, 3);
  EXPECT_DOUBLE_EQ(acc[1].difficulty, 4.0);
  EXPECT_DOUBLE_EQ(acc[1].accuracy(), 2.0 / 3.0);
}

TEST(dataset, base_strings) {
  EXPECT_EQ(to_base_string(0, 7), "0");
  EXPECT_EQ(to_base_string(219, 7), "432");
  EXPECT_EQ(to_base_string(255, 16), "FF");
  EXPECT_EQ(to_base_string(35, 36), "Z");
}

TEST(params, unknown_key_names_the_key_and_suggests) {
  try {
    mqar_params().read(nlohmann::json{{"num_kv_pair", 4}});
    FAIL();
  } catch (const param_error& e) {
    EXPECT_EQ(e.key(), "num_kv_pair");
    EXPECT_STREQ(e.what(), "mqar: unknown key 'num_kv_pair'");
    EXPECT_NE(e.hint().find("did you mean 'num_kv_pairs'?"), std::string::npos) << e.hint();
  }
}

TEST(params, wrong_type_and_range) {
  try {
    mqar_params().read(nlohmann::json{{"seq_len", "long"}});
    FAIL();
  } catch (const param_error& e) {
    EXPECT_EQ(e.key(), "seq_len");
    EXPECT_STREQ(e.what(), "mqar: seq_len: expected an integer, got \"long\"");
  }
  try {
    mqar_params().read(nlohmann::json{{"power_a", 2.0}});
    FAIL();
  } catch (const param_error& e) {
    EXPECT_STREQ(e.what(), "mqar: power_a: 2 is out of range (must be [1e-06, 1])");
  }
  const mqar_config c = mqar_params().read(nlohmann::json{{"seq_len", 128.0}, {"test_num_kv_pairs", {4, 8}}});
  EXPECT_EQ(c.seq_len, 128);
  EXPECT_EQ(c.test_num_kv_pairs, (std::vector<std::int64_t>{4, 8}));
  EXPECT_EQ(c.num_kv_pairs, 8);  // default kept
  const nlohmann::json w = mqar_params().write(c);
  EXPECT_EQ(w.at("seq_len"), 128);
  EXPECT_EQ(w.at("random_non_queries"), true);
  EXPECT_EQ(w.size(), mqar_params().specs().size());
}

// omit_when / omit_when_default leave a key out of the canonical form (so a new key keeps old
// specs' run ids), read() still takes it; add_table brings a base config's keys and omit rules.
namespace {
struct base_cfg {
  std::int64_t a = 1;
  std::string mode = "x";
};
struct derived_cfg : base_cfg {
  double b = 0.5;
};
}  // namespace

TEST(params, omitted_keys_and_a_base_table) {
  const auto base = param_table<base_cfg>("base")
                        .add("a", &base_cfg::a, "an integer", 0, 10)
                        .add("mode", &base_cfg::mode, "a string", -INFINITY, INFINITY, {"x", "y"})
                        .omit_when_default();
  EXPECT_EQ(base.write(base_cfg{}).dump(), R"({"a":1})");
  EXPECT_EQ(base.write(base.read(nlohmann::json{{"mode", "y"}})).dump(), R"({"a":1,"mode":"y"})");
  EXPECT_EQ(base.write(base.read(nlohmann::json{{"mode", "x"}})).dump(), R"({"a":1})");  // given, but the default
  const auto derived = param_table<derived_cfg>("derived")
                           .add_table(base)
                           .add("b", &derived_cfg::b, "a number", 0, 1)
                           .omit_when([](const derived_cfg& c) { return c.a == 1; });
  ASSERT_EQ(derived.specs().size(), 3u);
  EXPECT_EQ(derived.specs()[1].name, "mode");
  EXPECT_EQ(derived.specs()[1].default_value, "x");
  EXPECT_EQ(derived.write(derived_cfg{}).dump(), R"({"a":1})");
  const derived_cfg d = derived.read(nlohmann::json{{"a", 2}, {"mode", "y"}, {"b", 0.25}});
  EXPECT_EQ(d.a, 2);
  EXPECT_EQ(d.mode, "y");
  EXPECT_EQ(derived.write(d).dump(), R"({"a":2,"b":0.25,"mode":"y"})");
  try {
    derived.read(nlohmann::json{{"a", 11}});
    FAIL();
  } catch (const param_error& e) {
    EXPECT_STREQ(e.what(), "derived: a: 11 is out of range (must be [0, 10])");
  }
}
