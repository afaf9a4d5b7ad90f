// Experiment specs: grid expansion (order, ids, derived seeds, task defaults), sweeps in
// strings and arrays, --set overrides, and error messages pinned with key and line.
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "lab/spec.hpp"

using lmlab::lab::experiment_spec;
using lmlab::lab::parse_spec;

namespace {

// The message of the lmlab::error thrown by parsing `text`, or "" if none.
std::string error_of(const std::string& text, const std::vector<std::string>& overrides = {}) {
  try {
    parse_spec(text, "t.toml", overrides);
  } catch (const lmlab::error& e) {
    return e.what();
  }
  return "";
}
std::string hint_of(const std::string& text, const std::vector<std::string>& overrides = {}) {
  try {
    parse_spec(text, "t.toml", overrides);
  } catch (const lmlab::error& e) {
    return e.hint();
  }
  return "";
}

const std::string kBase = R"(name = "x"
[model]
d_model = 64
n_heads = 4
[task]
name = "mqar"
seq_len = 64
vocab_size = 256
[train]
steps = 10
)";

}  // namespace

TEST(spec, fixture_expands_in_order) {
  const experiment_spec s = lmlab::lab::load_spec("tests/lab/fixtures/recall.toml");
  EXPECT_EQ(s.name, "recall-test");
  EXPECT_EQ(s.question, "Does attention solve MQAR where small-state mixers degrade?");
  ASSERT_EQ(s.axes.size(), 3u);
  EXPECT_EQ(s.axes[0].key, "model.arch");
  EXPECT_EQ(s.axes[1].key, "model.d_model");
  EXPECT_EQ(s.axes[2].key, "task.num_kv_pairs");
  ASSERT_EQ(s.runs.size(), 16u);  // 2 arch x 2 d_model x 2 kv x 2 seeds
  auto at = [&](std::size_t i, const char* sec, const char* key) { return s.runs[i].config.at(sec).at(key); };
  EXPECT_EQ(at(0, "model", "arch"), "gpt");
  EXPECT_EQ(at(0, "model", "d_model"), 64);
  EXPECT_EQ(at(0, "task", "num_kv_pairs"), 4);
  EXPECT_EQ(s.runs[0].replicate, 0);
  EXPECT_EQ(s.runs[1].replicate, 1);  // seeds fastest
  EXPECT_EQ(at(2, "task", "num_kv_pairs"), 8);  // then the last axis
  EXPECT_EQ(at(4, "model", "d_model"), 128);
  EXPECT_EQ(at(8, "model", "arch"), "mamba");
  EXPECT_EQ(at(15, "model", "d_model"), 128);
  // The task is canonical: every default filled in, plus its name.
  EXPECT_EQ(at(0, "task", "power_a"), 0.01);
  EXPECT_EQ(at(0, "task", "name"), "mqar");
  EXPECT_EQ(s.runs[0].config.at("train").at("lr"), 1e-3);
  EXPECT_EQ(s.runs[0].config.at("seed"), 0);
  for (std::size_t i = 0; i < s.runs.size(); ++i) {
    EXPECT_EQ(s.runs[i].index, i);
    EXPECT_EQ(s.runs[i].id, lmlab::lab::run_id(s.runs[i].config));
    EXPECT_EQ(s.runs[i].seed, lmlab::lab::derive_seed(s.runs[i].replicate));
    for (std::size_t j = 0; j < i; ++j) EXPECT_NE(s.runs[i].id, s.runs[j].id);
  }
  EXPECT_NE(s.runs[0].seed, s.runs[1].seed);
  EXPECT_EQ(s.runs[0].seed, s.runs[2].seed);  // same replicate, same seed across the grid
}

TEST(spec, run_ids_are_stable) {
  // The id is the sha256 of the canonical JSON (keys sorted); pinned so a change to the
  // canonical form, which would orphan stored results, is noticed.
  const experiment_spec s = lmlab::lab::load_spec("tests/lab/fixtures/recall.toml");
  const std::string dump = s.runs[0].config.dump();
  EXPECT_EQ(lmlab::sha256_hex({reinterpret_cast<const std::uint8_t*>(dump.data()), dump.size()}).substr(0, 16),
            s.runs[0].id);
  EXPECT_EQ(dump,
            R"({"model":{"arch":"gpt","d_model":64,"n_heads":4,"n_layers":2},"seed":0,)"
            R"("task":{"name":"mqar","num_kv_pairs":4,"num_test":200,"num_train":1000,"power_a":0.01,)"
            R"("random_non_queries":true,"seq_len":64,"test_num_kv_pairs":[],"vocab_size":256},)"
            R"("train":{"batch_size":16,"lr":0.001,"steps":100}})");
  EXPECT_EQ(lmlab::lab::derive_seed(0), 0xE220A8397B1DCDAFull);  // splitmix64(0)
  const experiment_spec again = lmlab::lab::load_spec("tests/lab/fixtures/recall.toml");
  for (std::size_t i = 0; i < s.runs.size(); ++i) EXPECT_EQ(s.runs[i].id, again.runs[i].id);
}

TEST(spec, sweep_strings_arrays_and_list_params) {
  const experiment_spec s = parse_spec(R"(name = "x"
seeds = "0-2+1"
[model]
d_model = "64-256*2"
[task]
name = "mqar"
seq_len = [64, 128]
vocab_size = 512
test_num_kv_pairs = "4-16*2"
[train]
steps = 10
lr = "1e-3,3e-3"
)",
                                       "t.toml");
  EXPECT_EQ(s.seeds, (std::vector<std::int64_t>{0, 1, 2}));
  ASSERT_EQ(s.axes.size(), 3u);
  EXPECT_EQ(s.axes[0].values.size(), 3u);  // 64 128 256
  EXPECT_EQ(s.axes[1].key, "task.seq_len");
  EXPECT_EQ(s.axes[2].key, "train.lr");
  EXPECT_EQ(s.runs.size(), 3u * 2 * 2 * 3);
  EXPECT_EQ(s.runs[0].config["task"]["test_num_kv_pairs"], nlohmann::json({4, 8, 16}));  // a value, not an axis
  const experiment_spec lists = parse_spec(kBase + "", "t.toml", {"task.test_num_kv_pairs=[[2, 4], [8]]", "seeds=3"});
  ASSERT_EQ(lists.axes.size(), 1u);
  EXPECT_EQ(lists.axes[0].values[1], nlohmann::json({8}));
  EXPECT_EQ(lists.runs.size(), 6u);
}

TEST(spec, overrides) {
  const experiment_spec s = parse_spec(kBase, "t.toml", {"model.d_model=32,64", "train.lr=3e-4", "task.power_a=1"});
  ASSERT_EQ(s.runs.size(), 2u);
  EXPECT_EQ(s.runs[1].config["model"]["d_model"], 64);
  EXPECT_EQ(s.runs[0].config["train"]["lr"], 3e-4);
  EXPECT_EQ(s.runs[0].config["task"]["power_a"], 1.0);
  EXPECT_EQ(parse_spec(kBase, "t.toml", {"name=renamed"}).name, "renamed");
  EXPECT_EQ(error_of(kBase, {"modle.d_model=1"}), "--set modle.d_model=1: modle.d_model: unknown section 'modle'");
  EXPECT_EQ(hint_of(kBase, {"modle.d_model=1"}), "did you mean 'model'? sections: model, task, train");
  EXPECT_EQ(error_of(kBase, {"model.n_heads=x"}), "--set model.n_heads=x: model.n_heads: cannot parse 'x' as a number");
  EXPECT_THROW(parse_spec(kBase, "t.toml", {"model.d_model"}), lmlab::usage_error);
}

TEST(spec, errors_name_key_and_line) {
  // Unknown key, with a suggestion.
  const std::string unknown = kBase + "weight_decy = 0.1\n";
  EXPECT_EQ(error_of(unknown), "t.toml:11: train.weight_decy: unknown key in [train]");
  EXPECT_EQ(hint_of(unknown).rfind("did you mean 'weight_decay'? known keys: steps, tokens,", 0), 0u);
  // Wrong types.
  EXPECT_EQ(error_of(R"(name = "x"
[model]
tie_embeddings = 1
[task]
name = "copy"
[train]
steps = 1
)"),
            "t.toml:3: model.tie_embeddings: expected a boolean, got integer 1");
  EXPECT_EQ(error_of(R"(name = "x"
[task]
name = "copy"
[train]
steps = [1, "2"]
)"),
            "t.toml:5: train.steps: expected integer in the array, got string '2'");
  EXPECT_EQ(error_of(R"(name = 3
[task]
name = "copy"
[train]
steps = 1
)"),
            "t.toml:1: name: expected a string, got integer 3");
  EXPECT_EQ(error_of(R"(name = "x"
[task]
name = "copy"
[train]
steps = 1.5
)"),
            "t.toml:5: train.steps: expected an integer, got float 1.5");
  // Out of range, bad choice.
  EXPECT_EQ(error_of(kBase + "[model.extra]\n"), "t.toml:11: model.extra: nested tables are not allowed in a section");
  EXPECT_EQ(error_of(R"(name = "x"
[model]
dropout = 1.5
pos_encoding = "rope"
[task]
name = "copy"
[train]
steps = 1
)"),
            "t.toml:3: model.dropout: 1.5 is out of range (must be [0, 0.999])");
  EXPECT_EQ(error_of(R"(name = "x"
[model]
pos_encoding = "rope,rotary"
[task]
name = "copy"
[train]
steps = 1
)"),
            "t.toml:3: model.pos_encoding: 'rotary' is not one of: learned, sinusoidal, rope, pi, ntk, dynamic-ntk, "
            "yarn, alibi, fire, none");
  // Impossible combinations, located at the key and naming the grid point.
  EXPECT_EQ(error_of(R"(name = "x"
[model]
d_model = "64,96"
n_heads = 5
[task]
name = "copy"
[train]
steps = 1
)"),
            "t.toml:4: model.n_heads: d_model 64 is not divisible by n_heads 5 (grid point model.d_model=64)");
  EXPECT_EQ(error_of(R"(name = "x"
[task]
name = "mqar"
seq_len = 64
vocab_size = 256
num_kv_pairs = "8,32"
[train]
steps = 1
)"),
            "t.toml:6: task.num_kv_pairs: 32 pairs need 4·32 = 128 positions but seq_len is 64 "
            "(grid point task.num_kv_pairs=32)");
  EXPECT_EQ(error_of(R"(name = "x"
[task]
name = "arithmetic"
max_digits = 3
ood_digits = [2]
[train]
steps = 1
)"),
            "t.toml:5: task.ood_digits: 2 is not beyond max_digits 3");
  // Task keys, names, sections, budget, syntax.
  EXPECT_EQ(error_of(kBase + "[task]\n"), "t.toml:11:1: TOML syntax error: Error while parsing table header: cannot redefine existing table 'task'");
  const std::string bad_task_key = R"(name = "x"
[task]
name = "scan"
split = "length"
splt = "simple"
[train]
steps = 1
)";
  EXPECT_EQ(error_of(bad_task_key), "t.toml:5: task.splt: unknown key for task 'scan'");
  EXPECT_EQ(hint_of(bad_task_key),
            "did you mean 'split'? known keys: split, train_fraction, max_train_actions, oversample_primitive");
  EXPECT_EQ(error_of(R"(name = "x"
[task]
name = "scna"
[train]
steps = 1
)"),
            "t.toml:3: task.name: unknown task 'scna'");
  EXPECT_EQ(error_of(R"(name = "x"
[task]
name = "copy"
[train]
lr = 1e-3
)"),
            "t.toml:4: train: no training budget");
  EXPECT_EQ(error_of("[task]\nname = \"copy\"\n[train]\nsteps = 1\n"), "t.toml: name: missing");
  EXPECT_EQ(error_of(kBase + "modle = 1\n"), "t.toml:11: train.modle: unknown key in [train]");
  EXPECT_EQ(error_of("nmae = \"x\"\n" + kBase.substr(kBase.find('\n') + 1)), "t.toml:1: nmae: unknown top-level key");
  EXPECT_EQ(error_of(R"(name = "x"
[model]
d_model = "64,128,64"
[task]
name = "copy"
[train]
steps = 1
)"),
            "t.toml:3: model.d_model: the value 64 appears twice");
}

TEST(spec, section_and_seed_shapes) {
  EXPECT_EQ(error_of("name = \"x\"\nmodel = 3\n[task]\nname = \"copy\"\n[train]\nsteps = 1\n"),
            "t.toml:2: model: expected a table [model], got integer 3");
  EXPECT_EQ(error_of(kBase + "[model]\n", {}), "t.toml:11:1: TOML syntax error: Error while parsing table header: cannot redefine existing table 'model'");
  EXPECT_EQ(error_of("seeds = 0\n" + kBase), "t.toml:1: seeds: a count of 0 seeds is out of range [1, 100000]");
  EXPECT_EQ(error_of("seeds = [0, -1]\n" + kBase), "t.toml:1: seeds: -1 is out of range (must be [0, 9.2e+18])");
  EXPECT_EQ(parse_spec("seeds = [5, 7]\n" + kBase, "t.toml").runs.size(), 2u);
  EXPECT_EQ(parse_spec(kBase, "t.toml").runs.size(), 1u);  // default: one replicate, seed 0
}

TEST(spec, load_spec_names_the_file) {
  try {
    lmlab::lab::load_spec("tests/lab/fixtures/bad_unknown_key.toml");
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_STREQ(e.what(), "tests/lab/fixtures/bad_unknown_key.toml:7: model.n_head: unknown key in [model]");
    EXPECT_EQ(std::string(e.hint()).rfind("did you mean 'n_heads'?", 0), 0u);
  }
}

TEST(spec, a_grid_over_the_cap_is_refused_before_any_run_is_built) {
  // The cap was 1,000,000 runs, materialised first: 28 s and 3.1 GB before anything ran.
  EXPECT_EQ(error_of("seeds = 100000\n" + kBase, {"train.steps=10,20"}),
            "t.toml: the grid has 200000 runs, more than the 100000 one spec may expand to");
  EXPECT_EQ(parse_spec("seeds = 3\n" + kBase, "t.toml", {"train.steps=10,20"}).runs.size(), 6u);
}
