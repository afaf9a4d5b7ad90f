// The vlm_pope task and runner: a spec names it like any task (errors at the key), and a tiny
// run trains all three stages and returns QA accuracy, the same on a second run (determinism).
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "lab/runner.hpp"
#include "lab/spec.hpp"
#include "vlm/runner.hpp"

using namespace lmlab;

namespace {

const char* k_spec = R"(name = "v"
seeds = 1
[model]
d_model = 16
n_layers = 1
n_heads = 2
[task]
name = "vlm_pope"
projector = "resampler"
image_tokens = 2
train_scenes = 64
test_scenes = 8
vit_d = 8
clip_steps = 3
align_steps = 3
[train]
steps = 5
batch_size = 4
)";

TEST(vlm_runner, a_spec_runs_the_three_stages_deterministically) {
  vlm::register_lab();
  vlm::register_lab();  // idempotent
  const auto spec = lab::parse_spec(k_spec, "v.toml");
  ASSERT_EQ(spec.runs.size(), 1u);
  EXPECT_EQ(spec.runs[0].config["task"]["cooccur"], 0.7);  // defaults filled in
  const auto a = lab::run_config_once({spec.runs[0].config, 3, {}, nullptr, -1, nullptr});
  const auto b = lab::run_config_once({spec.runs[0].config, 3, {}, nullptr, -1, nullptr});
  EXPECT_EQ(a.steps, 11);
  EXPECT_GE(a.test_accuracy, 0.0);
  EXPECT_LE(a.test_accuracy, 1.0);
  EXPECT_EQ(a.test_accuracy, b.test_accuracy);
  EXPECT_EQ(a.final_train_loss, b.final_train_loss);
  EXPECT_TRUE(std::isfinite(a.final_train_loss));
}

TEST(vlm_runner, bad_task_values_name_the_key) {
  vlm::register_lab();
  // The spec with one line replaced.
  const auto err = [](const std::string& from, const std::string& to) {
    std::string s = k_spec;
    s.replace(s.find(from), from.size(), to);
    try {
      lab::parse_spec(s, "v.toml");
    } catch (const error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(err("projector = \"resampler\"", "projector = \"mlp\"").find("v.toml:10: task.image_tokens: 2 tokens per image"),
            std::string::npos)
      << err("projector = \"resampler\"", "projector = \"mlp\"");
  EXPECT_NE(err("projector = \"resampler\"", "projector = \"conv\"").find("task.projector"), std::string::npos);
  EXPECT_NE(err("vit_d = 8", "vit_d = 8\nmax_objects = 5").find("task.max_objects"), std::string::npos);
  EXPECT_NE(err("vit_d = 8", "vit_d = 8\npatch = 5").find("task.patch"), std::string::npos);
}

}  // namespace
