// The zoo model against PyTorch: fixtures in tests/golden/fixtures/zoo_* (written by
// scripts/ref/zoo_fixtures.py from plain PyTorch reimplementations of each mixer) hold the
// initial weights, one batch, the logits, the loss and every named gradient of a tiny model
// per mixer: attention with RoPE + GQA + RMSNorm + SwiGLU, Mamba, RWKV-4, RetNet + Griffin,
// attention with a short causal conv (attn_conv).
// Every tensor is compared as |a - b| <= atol + rtol * |b| (shared/STYLE.md #3); a failure
// prints the worst element. The model config comes from the fixture's JSON (make_model keys),
// and loading is strict, so a parameter name or shape that differs from the reference fails.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>

#include "autograd/autograd.hpp"
#include "core/fs.hpp"
#include "models/lm.hpp"
#include "nn/safetensors.hpp"
#include "ops/gemm.hpp"

#include "golden_close.hpp"

using namespace lmlab;

namespace {

// f32 on both sides; the scans and WKV sum in another order than PyTorch's loops.
// Measured worst |a-b| over logits and every gradient (1 thread, OpenBLAS): 1.2e-6 in each
// fixture; the margins are ~10x.
constexpr double kLogitsAtol = 1e-5, kLogitsRtol = 1e-4;
constexpr double kGradAtol = 1e-5, kGradRtol = 1e-4;
constexpr double kLossRtol = 1e-5;

using lmlab::testing::golden_close;

void check(const std::string& name) {
  set_num_threads(1);
  const std::string base = "tests/golden/fixtures/zoo_" + name;
  const auto info = nlohmann::json::parse(read_text_file(base + ".json"));
  const auto st = nn::safetensors_file::load(base + ".safetensors");
  auto model = models::make_model(info["model"], 0);
  nn::load_parameters(*model, st, "init.");  // strict: names and shapes must match the reference
  const tensor& batch = st.get("batch");
  const std::int64_t T = batch.size(1) - 1;
  tensor inputs = batch.narrow_raw(1, 0, T).contiguous_raw();
  tensor targets = batch.narrow_raw(1, 1, T).contiguous_raw();
  {
    no_grad ng;
    golden_close(name + " logits", model->forward(inputs), st.get("logits"), kLogitsAtol, kLogitsRtol);
  }
  model->eval();  // no aux losses: the reference loss is the cross-entropy
  tensor loss = model->loss(inputs, targets);
  const double want = st.get("loss").item();
  EXPECT_NEAR(loss.item(), want, kLossRtol * want) << name << " loss";
  backward(loss);
  std::size_t n = 0;
  for (auto& [pname, p] : model->named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << pname << " got no gradient";
    golden_close(name + " grad " + pname, p.grad(), st.get("grad." + pname), kGradAtol, kGradRtol);
    ++n;
  }
  EXPECT_EQ(n * 2 + 3, st.names().size());  // init.* and grad.* per parameter, batch, logits, loss
}

}  // namespace

TEST(zoo_golden, attention_rope_gqa_rmsnorm_swiglu) { check("attn_rope"); }
TEST(zoo_golden, mamba) { check("mamba"); }
TEST(zoo_golden, rwkv4_time_mix_and_channel_mix) { check("rwkv"); }
TEST(zoo_golden, retnet_retention_and_griffin_rglru) { check("retnet_griffin"); }
TEST(zoo_golden, attention_with_a_short_causal_conv) { check("attn_conv"); }
