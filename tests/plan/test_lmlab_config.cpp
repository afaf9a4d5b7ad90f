// The planner reads lmlab's own checkpoint config.json (model_type "lmlab-lm"): its parameter
// count is compared with the model's own, built from the same config, for each mixer the
// planner models. The planner's formulas leave out LayerNorm and MLP biases, learned
// positions and some small per-mixer vectors, so the tolerance is a few percent.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/error.hpp"
#include "models/lm.hpp"
#include "plan/model_config.hpp"
#include "../lm_test_config.hpp"

using namespace lmlab;

namespace {
models::lm_config lab_config(const std::string& pattern, const std::string& ffn) {
  models::lm_config c = lmlab::testing::small_lm(256, 64, 4, 4, 64);
  c.pattern = pattern;
  c.ffn = ffn;
  c.pos_encoding = "rope";
  return c;
}
}  // namespace

TEST(lmlab_config, planner_counts_match_the_model_within_a_few_percent) {
  for (const std::string pattern : {"A", "M", "R", "W", "MMMA", "RA"}) {
    for (const std::string ffn : {"gelu", "swiglu"}) {
      const auto c = lab_config(pattern, ffn);
      const auto model = models::make_model(c, 1);
      const auto m = plan::parse_hf_config(models::to_hf_json(c).dump(), "config.json");
      ASSERT_EQ(m.layers.size(), 4u);
      const double ours = static_cast<double>(model->num_parameters());
      EXPECT_NEAR(m.params_total() / ours, 1.0, 0.05) << pattern << " " << ffn << ": planner " << m.params_total()
                                                       << ", model " << ours;
    }
  }
}

TEST(lmlab_config, layer_pattern_maps_to_the_planner_mixers) {
  auto c = lab_config("MMMA", "gelu");
  auto m = plan::parse_hf_config(models::to_hf_json(c).dump(), "config.json");
  EXPECT_EQ(m.count(plan::mixer::mamba), 3);
  EXPECT_EQ(m.count(plan::mixer::attention), 1);
  EXPECT_GT(m.state_bytes(4), 0);
  EXPECT_GT(m.kv_cache_bytes(1024, 4), 0);
  c = lab_config("T", "gelu");
  try {
    (void)plan::parse_hf_config(models::to_hf_json(c).dump(), "ck/config.json");
    FAIL();
  } catch (const lmlab::error& e) {
    EXPECT_STREQ(e.what(), "ck/config.json: layer_pattern \"T\": the planner has no model of mixer 'T'");
  }
}
