// The run executor end to end on a tiny config: trains, evaluates per slice, writes metrics
// and evaluations to the store, resumes from its checkpoint, and logs model metrics (MoD).
#include "lab/run.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "core/error.hpp"
#include "store/results_store.hpp"

namespace fs = std::filesystem;
using namespace lmlab;

namespace {
nlohmann::json tiny_config(double mod_capacity) {
  auto c = nlohmann::json::parse(R"({
    "model": {"arch": "gpt", "d_model": 16, "n_layers": 2, "n_heads": 2},
    "task": {"name": "arithmetic", "op": "add", "bases": [10], "min_digits": 1, "max_digits": 2,
             "ood_digits": [3], "num_train": 200, "num_test": 20},
    "train": {"steps": 12, "batch_size": 8, "lr": 0.003},
    "seed": 0})");
  c["model"]["mod_capacity"] = mod_capacity;
  c["model"]["mod_every"] = 2;
  return c;
}
}  // namespace

TEST(lab_run, trains_evaluates_logs_and_resumes) {
  const fs::path dir = fs::temp_directory_path() / ("lmlab_run_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path db_path = dir / "s.db";
  std::int64_t id;
  {
    store::results_store db(db_path);
    id = db.create_run("lab", "t/mod", tiny_config(0.5));
  }
  auto r = lab::train_and_evaluate(tiny_config(0.5), 7, dir / "run", db_path, id, nullptr);
  EXPECT_EQ(r.steps, 12);
  EXPECT_TRUE(std::isfinite(r.final_train_loss));
  EXPECT_GE(r.test_accuracy, 0.0);
  store::results_store db(db_path);
  bool has_all = false, has_ood = false;
  for (const auto& e : db.evaluations(id)) {
    if (e.split == "test" && e.slice == "all" && e.metric == "accuracy") has_all = true;
    if (e.split == "test" && e.slice.rfind("ood_len", 0) == 0) has_ood = true;
  }
  EXPECT_TRUE(has_all);
  EXPECT_TRUE(has_ood);
  EXPECT_EQ(db.metrics(id, "train_loss").size(), 2u);  // steps 10 and 12
  EXPECT_FALSE(db.metrics(id).empty());
  bool model_metric = false;  // MoD reports what it routed
  for (const auto& m : db.metrics(id))
    if (m.name != "train_loss" && m.name != "n_params" && m.name != "final_train_loss" && m.name != "seconds")
      model_metric = true;
  EXPECT_TRUE(model_metric);
  // The inference state at the longest test input: two attention layers' K and V caches,
  // 2 x 2 x d_model 16 x 4 bytes per position (no recurrent state, no conv).
  const auto state = db.metrics(id, "state_bytes");
  ASSERT_EQ(state.size(), 1u);
  EXPECT_GT(state[0].value, 0.0);
  EXPECT_EQ(std::fmod(state[0].value, 256.0), 0.0) << state[0].value;
  // A second call finds the final checkpoint (step 12) and does not train again: a run stopped
  // after its final checkpoint but before it was marked finished. Its final loss used to be
  // NaN (stored as NULL).
  auto again = lab::train_and_evaluate(tiny_config(0.5), 7, dir / "run", db_path, id, nullptr);
  EXPECT_EQ(again.steps, 12);
  EXPECT_DOUBLE_EQ(again.test_accuracy, r.test_accuracy);
  EXPECT_EQ(again.final_train_loss, r.final_train_loss);
  const auto final_loss = db.metrics(id, "final_train_loss");
  ASSERT_FALSE(final_loss.empty());
  EXPECT_EQ(final_loss.back().value, r.final_train_loss);
  fs::remove_all(dir);
}

// "a;b" evaluates both RoPE rescalings after one training (commas in a spec sweep them as
// separate runs, which trained the same model three times in posenc_rope_scaling.toml).
TEST(lab_run, one_run_evaluates_every_rope_scaling_of_its_list) {
  const fs::path dir = fs::temp_directory_path() / ("lmlab_rope_scalings_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path db_path = dir / "s.db";
  auto c = tiny_config(0);
  c["model"].erase("mod_every");
  c["model"]["pos_encoding"] = "rope";
  c["train"]["eval_rope_scalings"] = "linear:2;ntk:2";
  std::int64_t id;
  {
    store::results_store db(db_path);
    id = db.create_run("lab", "t/rope", c);
  }
  lab::train_and_evaluate(c, 7, {}, db_path, id, nullptr);
  store::results_store db(db_path);
  std::set<std::string> splits;
  for (const auto& e : db.evaluations(id))
    if (e.slice == "all") splits.insert(e.split);
  EXPECT_EQ(splits, (std::set<std::string>{"test", "test@linear:2", "test@ntk:2", "train"}));
  fs::remove_all(dir);
}

TEST(lab_run, flop_budget_gives_cheaper_models_more_steps) {
  const fs::path dir = fs::temp_directory_path() / ("lmlab_flops_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  auto steps_for = [&](double mod_capacity, const char* name) {
    auto c = tiny_config(mod_capacity);
    c["train"].erase("steps");
    c["train"]["flops"] = 5e7;
    return lab::train_and_evaluate(c, 3, dir / name, {}, -1, nullptr).steps;
  };
  const auto dense = steps_for(0, "dense"), routed = steps_for(0.25, "mod");
  EXPECT_GE(dense, 3);
  EXPECT_LE(dense, 200);
  // Every second block processes a quarter of the tokens: cheaper per step, more steps.
  EXPECT_GT(routed, dense);
  fs::remove_all(dir);
}

TEST(lab_run, unsupported_keys_are_errors_naming_the_key) {
  auto c = tiny_config(0);
  c["train"]["optimizer"] = "sgd";
  try {
    lab::train_and_evaluate(c, 1, {}, {}, -1, nullptr);
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_STREQ(e.what(), "lab: train.optimizer: only adamw is implemented");
  }
  auto s = tiny_config(0);
  s["train"]["schedule"] = "step";
  try {
    lab::train_and_evaluate(s, 1, {}, {}, -1, nullptr);
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_STREQ(e.what(), "lab: train.schedule: unknown schedule 'step'");
  }
  auto d = tiny_config(0);
  d["model"]["arch"] = "lstm";
  EXPECT_THROW(lab::train_and_evaluate(d, 1, {}, {}, -1, nullptr), lmlab::error);
}
