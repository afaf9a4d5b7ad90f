// knowledge::fit's parameter filter: a phase that trains only the attention blocks leaves every
// other parameter bit for bit as it was, changes the attention weights, and unfreezes the
// frozen parameters when it ends; a filter that keeps nothing is an error.
#include "knowledge/fit.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "knowledge/kb.hpp"
#include "lab/run.hpp"
#include "models/lm.hpp"
#include "ops/gemm.hpp"

using namespace lmlab;

namespace {
struct tiny {
  tasks::dataset ds;
  std::unique_ptr<models::lm> model;
};
tiny make_tiny() {
  knowledge::kb_config c;
  c.num_people = 6;
  c.mode = "mixed";
  tiny t;
  t.ds = knowledge::build(c, 5);
  const nlohmann::json mj = {{"arch", "gpt"}, {"d_model", 16}, {"n_layers", 2}, {"n_heads", 2}, {"pos_encoding", "rope"}};
  t.model = models::make_model(lab::run_model_config(mj, t.ds), 5);
  return t;
}
train::optim_config optim() {
  train::optim_config oc;
  oc.batch_size = 4;
  oc.lr = 1e-2;
  return oc;
}
bool attention(const std::string& name) { return name.find(".attn.") != std::string::npos; }
}  // namespace

TEST(knowledge_fit, attention_only_phase_leaves_the_rest_unchanged) {
  set_num_threads(1);
  tiny t = make_tiny();
  std::map<std::string, std::vector<double>> before;
  for (const auto& [name, p] : t.model->named_parameters()) before[name] = p.to_vector();
  knowledge::fit_extras x;
  x.trainable = attention;
  int calls = 0;
  x.every = 2;
  x.on_every = [&](std::int64_t done) { calls += done % 2 == 0; };
  knowledge::fit(*t.model, t.ds.train, t.ds.pad_id, optim(), 6, 1e-2, 1, 0, x);
  EXPECT_EQ(calls, 3);
  std::size_t changed_attn = 0, n_attn = 0;
  for (const auto& [name, p] : t.model->named_parameters()) {
    const auto now = p.to_vector();
    if (attention(name)) {
      ++n_attn;
      changed_attn += now != before[name];
    } else {
      EXPECT_EQ(now, before[name]) << name << " is frozen but changed";
    }
    EXPECT_TRUE(p.requires_grad()) << name << " is still frozen after the phase";
  }
  EXPECT_GT(n_attn, 0u);
  EXPECT_EQ(changed_attn, n_attn);
  // Without a filter the same phase moves the MLPs too (so the check above can fail).
  knowledge::fit(*t.model, t.ds.train, t.ds.pad_id, optim(), 2, 1e-2, 1, 1);
  EXPECT_NE(t.model->parameter("blocks.0.mlp.w_out").to_vector(), before["blocks.0.mlp.w_out"]);
}

TEST(knowledge_fit, a_filter_that_keeps_nothing_is_an_error) {
  set_num_threads(1);
  tiny t = make_tiny();
  knowledge::fit_extras x;
  x.trainable = [](const std::string&) { return false; };
  EXPECT_THROW(knowledge::fit(*t.model, t.ds.train, t.ds.pad_id, optim(), 2, 1e-2, 1, 0, x), lmlab::error);
  for (const auto& [name, p] : t.model->named_parameters()) EXPECT_TRUE(p.requires_grad()) << name;
}
