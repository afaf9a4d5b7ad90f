// The task registry (name + JSON parameters -> dataset) and the length-generalisation protocol.
#include <gtest/gtest.h>

#include "tasks/copying.hpp"
#include "tasks/length_gen.hpp"
#include "tasks/registry.hpp"

using namespace lmlab::tasks;
using nlohmann::json;

TEST(registry, every_task_builds_from_json) {
  const std::map<std::string, json> small = {
      {"mqar", {{"vocab_size", 128}, {"seq_len", 32}, {"num_kv_pairs", 4}, {"num_train", 5}, {"num_test", 5}}},
      {"copy", {{"num_train", 5}, {"num_test", 5}}},
      {"selective_copy", {{"num_train", 5}, {"num_test", 5}}},
      {"induction", {{"num_train", 5}, {"num_test", 5}}},
      {"scan", {{"split", "length"}}},
      {"arithmetic", {{"bases", {7}}, {"num_train", 5}, {"num_test", 5}}},
      {"word_problems", {{"num_train", 5}, {"num_test", 2}}},
      {"length_gen", {{"task", "arithmetic"}, {"train_max", 2}, {"num_train", 5}, {"num_test", 3}}},
  };
  ASSERT_EQ(task_registry().size(), small.size());
  for (const auto& t : task_registry()) {
    json j = small.at(t.name);
    j["name"] = t.name;
    const dataset d = build_task(j, 1);
    validate(d);
    EXPECT_FALSE(d.train.empty()) << t.name;
    EXPECT_FALSE(d.test.empty()) << t.name;
    const json canon = t.canonical(j);
    EXPECT_EQ(canon.size(), t.params.size()) << t.name;  // every default filled in
  }
}

TEST(registry, errors_name_the_task_or_key) {
  try {
    build_task(json{{"name", "mqr"}}, 0);
    FAIL();
  } catch (const param_error& e) {
    EXPECT_EQ(e.key(), "name");
    EXPECT_STREQ(e.what(), "task: unknown task 'mqr'");
    EXPECT_EQ(e.hint().rfind("did you mean 'mqar'? known tasks: mqar, copy,", 0), 0u) << e.hint();
  }
  try {
    build_task(json{{"name", "scan"}, {"splitt", "length"}}, 0);
    FAIL();
  } catch (const param_error& e) {
    EXPECT_EQ(e.key(), "splitt");
    EXPECT_STREQ(e.what(), "scan: unknown key 'splitt'");
  }
  try {
    build_task(json{{"name", "scan"}, {"split", "jump"}}, 0);
    FAIL();
  } catch (const param_error& e) {
    EXPECT_STREQ(e.what(), "scan: split: 'jump' is not one of: simple, length, addprim_jump, addprim_turn_left, all");
  }
  EXPECT_THROW(build_task(json{{"seq_len", 4}}, 0), param_error);
}

namespace {
void count_at_site_a(int& n) { register_once([&n] { ++n; }); }
void count_at_site_b(int& n) { register_once([&n] { ++n; }); }
}  // namespace

// register_once runs a call site's registration the first time only (what makes a lab's
// register_*() idempotent), and each call site has its own flag.
TEST(registry, register_once_runs_each_call_site_once) {
  int a = 0, b = 0;
  for (int i = 0; i < 3; ++i) count_at_site_a(a);
  EXPECT_EQ(a, 1);
  count_at_site_b(b);
  count_at_site_b(b);
  EXPECT_EQ(b, 1);
}

// task_from_table: no builder by default (a lab runner's task); a dataset task's builder is
// its last argument.
TEST(registry, task_from_table_takes_a_dataset_builder) {
  EXPECT_FALSE(task_from_table("copy_lab", "", copy_params()).build);
  const task_info t = task_from_table("copy_data", "", copy_params(), [](const json& j, std::uint64_t seed) {
    return build(copy_params().read(j, {"name"}), seed);
  });
  ASSERT_TRUE(t.build);
  const dataset d = t.build({{"name", "copy_data"}, {"num_train", 4}, {"num_test", 3}}, 1);
  validate(d);
  EXPECT_FALSE(d.train.empty());
  EXPECT_FALSE(d.test.empty());
}

TEST(length_gen, slices_one_to_eight_times) {
  const dataset d = build(length_gen_config{.task = "copy", .train_max = 4, .num_train = 50, .num_test = 3}, 0);
  validate(d);
  ASSERT_EQ(d.test.size(), 24u);
  for (const auto& ex : d.train) ASSERT_LE(ex.difficulty, 4);
  for (std::size_t i = 0; i < d.test.size(); ++i) {
    const std::size_t k = i / 3 + 1;
    ASSERT_EQ(d.test[i].slice, "x" + std::to_string(k));
    ASSERT_EQ(d.test[i].difficulty, 4.0 * static_cast<double>(k));
    ASSERT_EQ(d.test[i].input.size(), 2 * 4 * k + 2);  // <bos> x <sep> x (the final <eos> is only a target)
  }
  const dataset h = build(length_gen_config{.task = "copy", .train_max = 2, .max_multiple = 2, .vocab_size = 4,
                                            .num_train = 1, .num_test = 1},
                          0);
  EXPECT_EQ(format_example(h.vocab, h.test[0]), "Inputs: <bos> c c <sep> c c\nLabels: -100 -100 -100 c c <eos>");
  const dataset a = build(length_gen_config{.task = "arithmetic", .train_max = 3, .max_multiple = 4, .num_train = 20,
                                            .num_test = 5},
                          0);
  std::map<std::string, int> slices;
  for (const auto& ex : a.test) ++slices[ex.slice];
  EXPECT_EQ(slices, (std::map<std::string, int>{{"x1", 5}, {"x2", 5}, {"x3", 5}, {"x4", 5}}));
  const dataset ind = build(length_gen_config{.task = "induction", .train_max = 16, .num_train = 4, .num_test = 2}, 0);
  EXPECT_EQ(ind.test.back().input.size(), 128u);
}

TEST(length_gen, accuracy_table) {
  const dataset d = build(length_gen_config{.task = "copy", .train_max = 2, .max_multiple = 2, .num_train = 1,
                                            .num_test = 2},
                          0);
  std::vector<std::vector<std::int32_t>> pred;
  for (std::size_t i = 0; i < d.test.size(); ++i) {
    auto p = d.test[i].target;  // a perfect model on x1, a wrong one on x2
    for (auto& t : p) t = (t == ignore_index) ? 0 : (i < 2 ? t : 0);
    pred.push_back(p);
  }
  const auto acc = accuracy_by_slice(d.test, pred);
  EXPECT_EQ(slice_table(acc, "length").to_string(lmlab::table_format::csv),
            "slice,length,n,correct,accuracy\nx1,2,2,2,1\nx2,4,2,0,0\n");
}
