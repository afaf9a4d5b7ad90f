// Experiment specs: grid expansion (order, ids, derived seeds, task defaults), sweeps in
// strings and arrays, --set overrides, and error messages pinned with key and line.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "lab/spec.hpp"
#include "models/lm_config.hpp"

using lmlab::lab::experiment_spec;
using lmlab::lab::parse_spec;

namespace {

// The message and the hint of the lmlab::error thrown by parsing `text`, or "" if none.
std::pair<std::string, std::string> failure_of(const std::string& text, const std::vector<std::string>& overrides) {
  try {
    parse_spec(text, "t.toml", overrides);
  } catch (const lmlab::error& e) {
    return {e.what(), e.hint()};
  }
  return {};
}
std::string error_of(const std::string& text, const std::vector<std::string>& overrides = {}) {
  return failure_of(text, overrides).first;
}
std::string hint_of(const std::string& text, const std::vector<std::string>& overrides = {}) {
  return failure_of(text, overrides).second;
}

// A spec written from its three sections: `name = "x"`, then [model] (left out when empty),
// [task] and [train], each body as given, so a test names only the lines it is about.
std::string spec_of(const std::string& model, const std::string& task = "name = \"copy\"\n",
                    const std::string& train = "steps = 1\n") {
  std::string text = "name = \"x\"\n";
  if (!model.empty()) text += "[model]\n" + model;
  return text + "[task]\n" + task + "[train]\n" + train;
}

const std::string kBase = spec_of("d_model = 64\nn_heads = 4\n",
                                  "name = \"mqar\"\nseq_len = 64\nvocab_size = 256\n", "steps = 10\n");

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
  EXPECT_EQ(error_of(spec_of("tie_embeddings = 1\n")),
            "t.toml:3: model.tie_embeddings: expected a boolean, got integer 1");
  EXPECT_EQ(error_of(spec_of("", "name = \"copy\"\n", "steps = [1, \"2\"]\n")),
            "t.toml:5: train.steps: expected integer in the array, got string '2'");
  EXPECT_EQ(error_of(R"(name = 3
[task]
name = "copy"
[train]
steps = 1
)"),
            "t.toml:1: name: expected a string, got integer 3");
  EXPECT_EQ(error_of(spec_of("", "name = \"copy\"\n", "steps = 1.5\n")),
            "t.toml:5: train.steps: expected an integer, got float 1.5");
  // Out of range, bad choice: the model's own checks (models/lm_config.cpp), at the key's line.
  EXPECT_EQ(error_of(kBase + "[model.extra]\n"), "t.toml:11: model.extra: nested tables are not allowed in a section");
  EXPECT_EQ(error_of(spec_of("dropout = 1.5\npos_encoding = \"rope\"\n")),
            "t.toml:3: model.dropout: must be in [0, 1), got 1.5");
  EXPECT_EQ(error_of(spec_of("pos_encoding = \"rope,rotary\"\n")),
            "t.toml:3: model.pos_encoding: unknown encoding 'rotary' (grid point model.pos_encoding=\"rotary\")");
  // Impossible combinations, located at the key and naming the grid point.
  EXPECT_EQ(error_of(spec_of("d_model = \"64,96\"\nn_heads = 5\n")),
            "t.toml:4: model.n_heads: d_model 64 is not divisible by n_heads 5 (grid point model.d_model=64)");
  // Found by fuzz_toml_spec: a zero divisor reached the divisibility checks (SIGFPE; UBSan
  // division by zero). n_heads = 0 is the model's range error; n_kv_heads = 0 means n_heads.
  EXPECT_EQ(error_of(spec_of("n_heads = 0\n")), "t.toml:3: model.n_heads: must be positive, got 0");
  EXPECT_NO_THROW(parse_spec(spec_of("n_heads = 4\nn_kv_heads = 0\n"), "t.toml"));
  EXPECT_EQ(error_of(spec_of("", "name = \"mqar\"\nseq_len = 64\nvocab_size = 256\nnum_kv_pairs = \"8,32\"\n")),
            "t.toml:6: task.num_kv_pairs: 32 pairs need 4·32 = 128 positions but seq_len is 64 "
            "(grid point task.num_kv_pairs=32)");
  EXPECT_EQ(error_of(spec_of("", "name = \"arithmetic\"\nmax_digits = 3\nood_digits = [2]\n")),
            "t.toml:5: task.ood_digits: 2 is not beyond max_digits 3");
  // Task keys, names, sections, budget, syntax.
  EXPECT_EQ(error_of(kBase + "[task]\n"), "t.toml:11:1: TOML syntax error: Error while parsing table header: cannot redefine existing table 'task'");
  const std::string bad_task_key = spec_of("", "name = \"scan\"\nsplit = \"length\"\nsplt = \"simple\"\n");
  EXPECT_EQ(error_of(bad_task_key), "t.toml:5: task.splt: unknown key for task 'scan'");
  EXPECT_EQ(hint_of(bad_task_key),
            "did you mean 'split'? known keys: split, train_fraction, max_train_actions, oversample_primitive");
  EXPECT_EQ(error_of(spec_of("", "name = \"scna\"\n")),
            "t.toml:3: task.name: unknown task 'scna'");
  EXPECT_EQ(error_of(spec_of("", "name = \"copy\"\n", "lr = 1e-3\n")),
            "t.toml:4: train: no training budget");
  EXPECT_EQ(error_of("[task]\nname = \"copy\"\n[train]\nsteps = 1\n"), "t.toml: name: missing");
  EXPECT_EQ(error_of(kBase + "modle = 1\n"), "t.toml:11: train.modle: unknown key in [train]");
  EXPECT_EQ(error_of("nmae = \"x\"\n" + kBase.substr(kBase.find('\n') + 1)), "t.toml:1: nmae: unknown top-level key");
  EXPECT_EQ(error_of(spec_of("d_model = \"64,128,64\"\n")),
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

// ---- [report] and [expect] (experiment_meta.hpp) ---------------------------------------

namespace {

const std::string kExpect = R"toml(
[report]
title = "T"
question = "recall"
figures = ["slices", "final"]
[[report.plot]]
id = "state"
x = "state_bytes"
y = "accuracy@hardest"
series = "model.d_model"
log_x = true
[expect]
published = "P"
citation = "C"
[expect.groups]
small = "model.d_model < 128 and task.num_kv_pairs in (4, 8)"
attn = "model.pattern ~ A+"
[[expect.require]]
left = "max(all).accuracy@id/*"
op = ">="
right = 0.9
otherwise = "the model did not learn the task"
[[expect.rule]]
metric = "accuracy@hardest"
left = "max(attn)"
op = ">"
right = "each(small)"
ci_overlap = "undecided"
[[expect.rule]]
metric = "final_train_loss"
pair = { differ = "model.d_model", closest = "n_params", within = 0.2 }
left = "first"
op = "within"
right = "second"
margin = 0.05
)toml";

std::string meta_error(const std::string& extra) { return error_of(kBase + extra); }

}  // namespace

TEST(spec_meta, report_and_expect_are_parsed) {
  const auto m = parse_spec(kBase + kExpect, "t.toml").meta;
  EXPECT_TRUE(m.declared);
  EXPECT_EQ(m.title, "T");
  EXPECT_EQ(m.question, "recall");
  EXPECT_EQ(m.figures, (std::vector<std::string>{"slices", "final"}));
  ASSERT_EQ(m.plots.size(), 1u);
  EXPECT_EQ(m.plots[0].x.name, "state_bytes");
  EXPECT_EQ(m.plots[0].y.slice, "hardest");
  EXPECT_TRUE(m.plots[0].log_x);
  ASSERT_TRUE(m.expect.has_value());
  const auto& e = *m.expect;
  ASSERT_EQ(e.groups.size(), 2u);
  EXPECT_EQ(e.groups[1].name, "small");  // TOML tables iterate by key
  ASSERT_EQ(e.groups[1].all_of.size(), 2u);
  EXPECT_EQ(e.groups[1].all_of[0].op, "<");
  EXPECT_EQ(e.groups[1].all_of[1].values, (std::vector<std::string>{"4", "8"}));
  ASSERT_EQ(e.require.size(), 1u);
  EXPECT_EQ(e.require[0].left.metric.slice, "id/*");
  EXPECT_EQ(e.require[0].right.number, 0.9);
  EXPECT_EQ(e.require[0].otherwise, "the model did not learn the task");
  ASSERT_EQ(e.rules.size(), 2u);
  EXPECT_EQ(e.rules[0].left.kind, lmlab::lab::side_kind::max);
  EXPECT_EQ(e.rules[0].right.kind, lmlab::lab::side_kind::each);
  EXPECT_EQ(e.rules[0].right.metric.text(), "accuracy@hardest");
  EXPECT_TRUE(e.rules[0].ci_overlap_undecided);
  ASSERT_TRUE(e.rules[1].pair.has_value());
  EXPECT_EQ(e.rules[1].pair->closest.name, "n_params");
  EXPECT_EQ(e.rules[1].left.kind, lmlab::lab::side_kind::first);
  // Without the tables: the name as title and question, the four built-in figures.
  const auto plain = parse_spec(kBase, "t.toml").meta;
  EXPECT_FALSE(plain.declared);
  EXPECT_EQ(plain.title, "x");
  EXPECT_EQ(plain.figures.size(), 4u);
  EXPECT_FALSE(plain.expect.has_value());
}

TEST(spec_meta, errors_name_file_and_key) {
  const std::string head = "\n[expect]\npublished = \"P\"\ncitation = \"C\"\n[expect.groups]\ng = \"model.d_model > 1\"\n";
  auto rule = [&](const std::string& body) { return meta_error(head + "[[expect.rule]]\nleft = \"max(g)\"\nop = \">\"\nright = 0.5\n[[expect.rule]]\n" + body); };
  EXPECT_EQ(rule("left = \"max(g)\"\nop = \"=>\"\nright = 1"), "t.toml: expect.rule[1].op: '=>' is not one of: >, >=, <, <=, within");
  EXPECT_EQ(rule("left = \"max(h)\"\nop = \">\"\nright = 1"), "t.toml: expect.rule[1].left: no group 'h'");
  EXPECT_EQ(rule("left = \"best(g)\"\nop = \">\"\nright = 1"), "t.toml: expect.rule[1].left: 'best(g)' is not a side");
  EXPECT_EQ(rule("metric = \"acc uracy\"\nleft = \"max(g)\"\nop = \">\"\nright = 1"),
            "t.toml: expect.rule[1].metric: 'acc uracy' is not a metric");
  EXPECT_EQ(rule("left = \"max(g)\"\nop = \">\"\nright = 1\nmargn = 2"), "t.toml: expect.rule[1].margn: unknown key");
  EXPECT_EQ(rule("left = \"max(g)\"\nop = \">\""), "t.toml: expect.rule[1].right: missing");
  EXPECT_EQ(rule("left = 1\nop = \">\"\nright = \"max(g)\""), "t.toml: expect.rule[1].left: the left side must come from the runs");
  EXPECT_EQ(rule("left = \"first\"\nop = \">\"\nright = 1"),
            "t.toml: expect.rule[1].left: 'first' needs a pair = { differ, closest, within } in the rule");
  EXPECT_EQ(rule("left = \"each(g)\"\nop = \">\"\nright = \"each(all)\""),
            "t.toml: expect.rule[1].right: each(...) on both sides pairs a variant with itself: use the same group");
  EXPECT_EQ(rule("left = \"max(g)\"\nop = \"within\"\nright = 1"), "t.toml: expect.rule[1].margin: missing");
  EXPECT_EQ(rule("left = \"max(g)\"\nop = \">\"\nright = 1\ntolerance = \"sd\""), "t.toml: expect.rule[1].tolerance: expected a number or \"ci\"");
  // Groups: keys checked against the schema and the task, operators and regexes.
  auto group = [&](const std::string& cond) {
    return meta_error("\n[expect]\npublished = \"P\"\ncitation = \"C\"\n[expect.groups]\ng = \"" + cond +
                      "\"\n[[expect.rule]]\nleft = \"max(g)\"\nop = \">\"\nright = 0.5\n");
  };
  EXPECT_EQ(group("model.d_modle = 64"), "t.toml: expect.groups.g: 'model.d_modle' is not a key of [model]");
  EXPECT_EQ(group("task.split = simple"), "t.toml: expect.groups.g: 'task.split' is not a key of [task] for task 'mqar'");
  EXPECT_EQ(group("d_model = 64"), "t.toml: expect.groups.g: 'd_model' is not a config key");
  EXPECT_EQ(group("model.d_model 64"), "t.toml: expect.groups.g: 'model.d_model 64' has no operator");
  EXPECT_EQ(group("model.d_model > big"), "t.toml: expect.groups.g: 'model.d_model > big' compares with >: needs a number");
  EXPECT_EQ(group("model.pattern ~ A(").rfind("t.toml: expect.groups.g: 'A(' is not a regular expression: ", 0), 0u);
  EXPECT_EQ(meta_error("\n[expect]\npublished = \"P\"\ncitation = \"C\"\n"), "t.toml: expect.rule: missing");
  EXPECT_EQ(meta_error("\n[expect]\ncitation = \"C\"\n"), "t.toml: expect.published: missing");
  EXPECT_EQ(meta_error("\n[report]\nfigures = [\"loss\", \"pie\"]\n"), "t.toml: report.figures: expected names of built-in figures");
  EXPECT_EQ(meta_error("\n[report]\ntitel = \"T\"\n"), "t.toml: report.titel: unknown key");
  EXPECT_EQ(meta_error("\n[[report.plot]]\nid = \"loss\"\nx = \"n_params\"\ny = \"accuracy\"\n"),
            "t.toml: report.plot[0].id: 'loss': expected [a-z0-9][a-z0-9_-]*, not a built-in figure name");
  EXPECT_EQ(hint_of(kBase + "\n[report]\ntitel = \"T\"\n").substr(0, 22), "did you mean 'title'? ");
}

// Every experiment in the repository: its spec and metadata load, its question is an id of
// data/notes/questions.json, and each experiment name is described by at most one file.
TEST(spec_meta, repository_experiments_load_with_known_questions) {
  const auto notes = nlohmann::json::parse(lmlab::read_text_file("data/notes/questions.json"));
  std::set<std::string> ids;
  for (const auto& q : notes["questions"]) ids.insert(q["id"].get<std::string>());
  const auto metas = lmlab::lab::load_experiment_metas("experiments", &ids, "data/notes/questions.json");
  ASSERT_GE(metas.size(), 7u);
  for (const auto& [name, m] : metas) {
    EXPECT_TRUE(m.declared) << name << ": no [report]/[expect] in " << m.source;
    EXPECT_TRUE(m.expect.has_value()) << name;
    EXPECT_NE(m.title, name) << name << ": give it a title";
  }
  // An unknown question id is an error naming the file.
  std::set<std::string> few = {"recall"};
  try {
    lmlab::lab::load_experiment_metas("experiments", &few, "q.json");
    ADD_FAILURE() << "no error";
  } catch (const lmlab::error& e) {
    EXPECT_NE(std::string(e.what()).find(": report.question: '"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("' is not an id in q.json"), std::string::npos) << e.what();
  }
}

TEST(spec, every_repository_experiment_passes_the_models_own_checks_at_each_size) {
  // Model values are checked per grid point by models::lm_config::validate (the one place that
  // declares them); the curated specs must pass at their default and quick sizes.
  int n = 0;
  for (const auto& f : std::filesystem::directory_iterator("experiments")) {
    if (f.path().extension() != ".toml") continue;
    const std::string text = lmlab::read_text_file(f.path());
    EXPECT_NO_THROW(lmlab::lab::load_spec(f.path())) << f.path();
    if (text.find("[sizes.quick]") != std::string::npos)
      EXPECT_NO_THROW(lmlab::lab::load_spec(f.path(), lmlab::lab::size_overrides(text, f.path().string(), "quick")))
          << f.path();
    ++n;
  }
  EXPECT_GE(n, 9);
}

TEST(spec, model_keys_are_the_models_field_table_plus_the_lab_conveniences) {
  const auto keys = lmlab::lab::model_keys();
  const std::set<std::string> have(keys.begin(), keys.end());
  std::size_t n = 0;
  for (const auto& f : lmlab::models::model_fields()) {
    if (std::string(f.key).find('.') != std::string::npos) continue;  // rope_scaling.*: rope_scaling_type/_factor
    EXPECT_TRUE(have.count(f.key)) << f.key;
    ++n;
  }
  EXPECT_EQ(keys.size(), n + 7);  // arch, mixer, d_head, d_ff, activation, rope_scaling_type, rope_scaling_factor
  EXPECT_TRUE(have.count("arch"));
}

TEST(spec, full_is_the_base_values_and_a_spec_without_a_quick_table_is_not_in_the_quick_suite) {
  const std::string with_quick = "name = \"a\"\n[sizes.quick]\n\"train.steps\" = 10\n";
  const std::string without = "name = \"b\"\n[sizes.full]\n\"train.steps\" = 10\n";
  const std::string no_sizes = "name = \"c\"\n";
  EXPECT_TRUE(lmlab::lab::has_size(with_quick, "a.toml", "quick"));
  EXPECT_FALSE(lmlab::lab::has_size(without, "b.toml", "quick"));
  EXPECT_TRUE(lmlab::lab::has_size(without, "b.toml", "full"));
  EXPECT_TRUE(lmlab::lab::has_size(no_sizes, "c.toml", "quick"));
  EXPECT_TRUE(lmlab::lab::size_overrides(with_quick, "a.toml", "full").empty());
  EXPECT_EQ(lmlab::lab::size_overrides(with_quick, "a.toml", "quick"), std::vector<std::string>{"train.steps=10"});
  EXPECT_THROW(lmlab::lab::size_overrides(with_quick, "a.toml", "huge"), lmlab::error);
}
