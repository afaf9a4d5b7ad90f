// The vlm_clip_real task: its spec errors name the key; with the Debian packages cached
// (scripts/test-data.sh), a tiny run on each dataset trains, scores train and held-out items
// and repeats exactly (determinism); emoji chance is 1/n of the held-out candidates.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.hpp"
#include "data/corpus.hpp"
#include "lab/runner.hpp"
#include "lab/spec.hpp"
#include "vlm/real_clip.hpp"

using namespace lmlab;

namespace {

std::string spec_text(const std::string& task) {
  return "name = \"c\"\nseeds = 1\n[task]\nname = \"vlm_clip_real\"\n" + task + "\n[train]\nsteps = 6\nbatch_size = 8\n";
}

std::string error_of(const std::string& task) {
  try {
    lab::parse_spec(spec_text(task), "c.toml");
  } catch (const lmlab::error& e) {
    return e.what();
  }
  return "no error";
}

TEST(vlm_clip_real, spec_errors_name_the_key) {
  vlm::register_clip_real();
  vlm::register_clip_real();  // idempotent
  EXPECT_NE(error_of("dataset = \"cifar\"").find("dataset"), std::string::npos) << error_of("dataset = \"cifar\"");
  EXPECT_NE(error_of("side = 14").find("Fashion-MNIST images are 28 pixels, not 14"), std::string::npos) << error_of("side = 14");
  EXPECT_NE(error_of("dataset = \"emoji\"\nside = 24\npatch = 5").find("vlm_clip_real.patch: 5 does not divide side 24"),
            std::string::npos);
  EXPECT_NE(error_of("test_share = 0.95").find("test_share"), std::string::npos);
  EXPECT_EQ(error_of("dataset = \"emoji\"\nside = 24\npatch = 6"), "no error");
}

TEST(vlm_clip_real, tiny_runs_on_the_cached_packages_are_deterministic) {
  const auto have = [](const char* s) { return data::is_fetched(data::find_source(s)); };
  if (!have("fashion-mnist") || !have("noto-emoji") || !have("unicode-emoji"))
    GTEST_SKIP() << "run scripts/test-data.sh to fetch fashion-mnist, noto-emoji and unicode-emoji";
  vlm::register_clip_real();
  for (const std::string task : {"train_items = 64\ntest_items = 40", "dataset = \"emoji\"\nside = 16\npatch = 4\ntest_share = 0.1"}) {
    const auto spec = lab::parse_spec(spec_text(task), "c.toml");
    const auto a = lab::run_config_once({spec.runs[0].config, 5, {}, nullptr, -1, nullptr});
    const auto b = lab::run_config_once({spec.runs[0].config, 5, {}, nullptr, -1, nullptr});
    EXPECT_EQ(a.steps, 6);
    EXPECT_TRUE(std::isfinite(a.final_train_loss)) << task;
    EXPECT_GE(a.test_accuracy, 0.0);
    EXPECT_LE(a.test_accuracy, 1.0);
    EXPECT_EQ(a.test_accuracy, b.test_accuracy) << task;
    EXPECT_EQ(a.final_train_loss, b.final_train_loss) << task;
  }
}

}  // namespace
