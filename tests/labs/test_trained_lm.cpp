// labs/trained_lm.hpp: a runner's model is trained as the default runner trains it and reloaded
// from its checkpoint: the reloaded weights are the trained ones (not the fresh initialisation),
// the dataset is the task's, and without a run folder no temporary folder is left behind.
#include "labs/trained_lm.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "models/lm.hpp"
#include "tasks/registry.hpp"

using namespace lmlab;

TEST(trained_lm, reloads_the_trained_weights_and_leaves_no_temporary_folder) {
  const auto config = nlohmann::json::parse(R"({
    "model": {"arch": "gpt", "d_model": 16, "n_layers": 1, "n_heads": 2},
    "task": {"name": "unused"},
    "train": {"steps": 6, "batch_size": 8, "lr": 0.01},
    "seed": 0})");
  const auto task = nlohmann::json::parse(R"({"name": "arithmetic", "op": "add", "bases": [10], "min_digits": 1,
    "max_digits": 2, "ood_digits": [3], "num_train": 100, "num_test": 10})");
  const lab::run_context ctx{config, 5};
  labs::trained_lm t = labs::train_and_reload(ctx, task, "trained_lm_test");
  EXPECT_EQ(t.result.steps, 6);
  EXPECT_EQ(t.ds.test.size(), tasks::build_task(task, 5).test.size());
  const auto fresh = models::make_model(lab::run_model_config(config.at("model"), t.ds), 5);
  const auto a = t.model->named_parameters(), b = fresh->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  bool differs = false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto& x = a[i].second;
    const auto& y = b[i].second;
    for (std::int64_t k = 0; k < x.numel() && !differs; ++k) differs = x.data<float>()[k] != y.data<float>()[k];
  }
  EXPECT_TRUE(differs) << "the reloaded model has the initial weights";
  for (const auto& e : std::filesystem::directory_iterator(std::filesystem::temp_directory_path()))
    EXPECT_EQ(e.path().filename().string().find("lmlab_trained_lm_test_"), std::string::npos) << e.path();
}
