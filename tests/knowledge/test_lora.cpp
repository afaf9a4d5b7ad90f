// LoRA adapters (knowledge/lora.hpp): the adapters' gradients, from the merged weight's gradient
// by the chain rule, against central finite differences in f64; a LoRA fine-tuning phase of a
// tiny model moves only the adapted weights, by an update of rank <= r, and leaves everything
// else bit for bit; the target list's parsing and matching; a target list that names nothing is
// an error naming the key.
#include "knowledge/lora.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "autograd/autograd.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "core/threads.hpp"
#include "knowledge/fit.hpp"
#include "knowledge/kb.hpp"
#include "lab/run.hpp"
#include "models/lm.hpp"
#include "ops/elementwise.hpp"
#include "ops/linalg.hpp"
#include "ops/reduce.hpp"

using namespace lmlab;

namespace {
tensor random_f64(const shape_t& shape, std::uint64_t stream, double sd = 1.0) {
  tensor t = tensor::zeros(shape, dtype::f64);
  rng r(77, stream);
  double* p = t.data<double>();
  for (std::int64_t i = 0; i < t.numel(); ++i) p[i] = sd * r.normal();
  return t;
}

// Six people's biographies and QA in one mixed training set (c.mode = "mixed", seed 5).
tasks::dataset six_people(knowledge::kb_config& c) {
  c.num_people = 6;
  c.mode = "mixed";
  return knowledge::build(c, 5);
}

// A 2-layer, width-16 RoPE GPT for that vocabulary.
std::unique_ptr<models::lm> tiny_model(const tasks::dataset& ds) {
  const nlohmann::json mj = {{"arch", "gpt"}, {"d_model", 16}, {"n_layers", 2}, {"n_heads", 2}, {"pos_encoding", "rope"}};
  return models::make_model(lab::run_model_config(mj, ds), 5);
}

// Numerical rank of a (rows, cols) row-major matrix: Gaussian elimination with full pivoting,
// pivots below tol · the largest entry count as zero.
int numerical_rank(std::vector<double> m, std::int64_t rows, std::int64_t cols, double tol) {
  double top = 0;
  for (double v : m) top = std::max(top, std::abs(v));
  if (top == 0) return 0;
  int rank = 0;
  std::vector<bool> row_used(static_cast<std::size_t>(rows)), col_used(static_cast<std::size_t>(cols));
  for (;;) {
    std::int64_t pr = -1, pc = -1;
    double best = tol * top;
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t c = 0; c < cols; ++c)
        if (!row_used[r] && !col_used[c] && std::abs(m[r * cols + c]) > best) best = std::abs(m[r * cols + c]), pr = r, pc = c;
    if (pr < 0) return rank;
    ++rank;
    row_used[pr] = col_used[pc] = true;
    for (std::int64_t r = 0; r < rows; ++r) {
      if (r == pr) continue;
      const double f = m[r * cols + pc] / m[pr * cols + pc];
      for (std::int64_t c = 0; c < cols; ++c) m[r * cols + c] -= f * m[pr * cols + c];
    }
  }
}
}  // namespace

TEST(knowledge_lora, adapter_gradients_match_finite_differences_in_f64) {
  const std::int64_t out = 5, in = 4, rank = 2;
  tensor w = random_f64({out, in}, 1, 0.5);
  w.set_requires_grad(true);
  const tensor x = random_f64({3, in}, 2), r = random_f64({3, out}, 3);
  knowledge::lora_adapters lora({{"w", w}}, rank, 3.0, 9);
  tensor a = lora.parameters()[0].second, b = lora.parameters()[1].second;
  b.copy_from(random_f64({out, rank}, 4, 0.3));  // B starts at zero; a non-zero B exercises ∂L/∂A
  const auto w0 = w.to_vector();
  // L(W) = Σ r ∘ tanh(x Wᵀ), a non-linear function of W.
  auto loss = [&] { return sum(mul(r, tanh(linear(x, w)))); };
  lora.merge();
  {  // merge: W = W0 + (alpha / r) B A, checked by hand
    const auto wv = w.to_vector(), av = a.to_vector(), bv = b.to_vector();
    for (std::int64_t i = 0; i < out; ++i)
      for (std::int64_t j = 0; j < in; ++j) {
        double d = 0;
        for (std::int64_t k = 0; k < rank; ++k) d += bv[i * rank + k] * av[k * in + j];
        EXPECT_NEAR(wv[i * in + j], w0[i * in + j] + 1.5 * d, 1e-14);
      }
  }
  backward(loss());
  lora.backward();
  EXPECT_FALSE(w.grad().defined()) << "the merged weight's gradient must be cleared";
  ASSERT_TRUE(a.grad().defined() && b.grad().defined());
  const double eps = 1e-6;
  double worst = 0;
  for (const tensor& t : {a, b}) {
    const auto analytic = t.grad().to_vector();
    double* p = t.data<double>();
    for (std::int64_t i = 0; i < t.numel(); ++i) {
      const double keep = p[i];
      double f[2];
      for (int s = 0; s < 2; ++s) {
        p[i] = keep + (s ? -eps : eps);
        lora.merge();
        no_grad ng;
        f[s] = loss().item();
      }
      p[i] = keep;
      const double numeric = (f[0] - f[1]) / (2 * eps);
      EXPECT_NEAR(analytic[static_cast<std::size_t>(i)], numeric, 1e-7 + 1e-6 * std::abs(numeric)) << "element " << i;
      worst = std::max(worst, std::abs(numeric));
    }
  }
  EXPECT_GT(worst, 1e-2) << "the gradients checked must not all be zero";
  lora.restore();
  EXPECT_EQ(w.to_vector(), w0);
}

TEST(knowledge_lora, targets_parse_and_match_dotted_components) {
  EXPECT_EQ(knowledge::split_targets(" w_q+ w_v ,,wte "), (std::vector<std::string>{"w_q", "w_v", "wte"}));
  EXPECT_TRUE(knowledge::split_targets(" , ").empty());
  const std::vector<std::string> t = {"w_q", "w_v", "wte"};
  EXPECT_TRUE(knowledge::lora_matches("blocks.0.attn.w_q", t));
  EXPECT_TRUE(knowledge::lora_matches("wte.weight", t));
  EXPECT_FALSE(knowledge::lora_matches("blocks.0.attn.w_qx", t));
  EXPECT_FALSE(knowledge::lora_matches("blocks.0.attn.w_k", t));
  EXPECT_FALSE(knowledge::lora_matches("blocks.0.attn.b_q", t));
}

TEST(knowledge_lora, a_lora_phase_moves_only_the_adapted_weights_by_rank_r) {
  set_num_threads(1);
  knowledge::kb_config c;
  const auto ds = six_people(c);
  auto model = tiny_model(ds);
  std::map<std::string, std::vector<double>> before;
  for (const auto& [name, p] : model->named_parameters()) before[name] = p.to_vector();
  train::optim_config oc;
  oc.batch_size = 4;
  oc.lr = 1e-2;
  knowledge::fit_extras x;
  x.lora_rank = 1;
  x.lora_alpha = 2;
  x.lora_targets = {"w_q", "w_v", "wte"};
  knowledge::fit(*model, ds.train, ds.pad_id, oc, 8, 1e-2, 1, 0, x);
  std::size_t adapted = 0;
  for (const auto& [name, p] : model->named_parameters()) {
    const auto now = p.to_vector();
    EXPECT_TRUE(p.requires_grad()) << name << " is still frozen after the phase";
    if (!knowledge::lora_matches(name, x.lora_targets)) {
      EXPECT_EQ(now, before[name]) << name << " is not adapted but changed";
      continue;
    }
    ++adapted;
    std::vector<double> delta(now.size());
    for (std::size_t i = 0; i < now.size(); ++i) delta[i] = now[i] - before[name][i];
    EXPECT_EQ(numerical_rank(delta, p.size(0), p.size(1), 1e-3), 1) << name << ": a rank-1 adapter's update";
  }
  EXPECT_EQ(adapted, 5u);  // w_q and w_v of two blocks, and the (tied) embedding
  // Full fine-tuning of the same phase moves w_q by more than rank 1 (so the check above can fail).
  const auto q0 = model->parameter("blocks.0.attn.w_q").to_vector();
  knowledge::fit(*model, ds.train, ds.pad_id, oc, 8, 1e-2, 1, 1);
  const auto q1 = model->parameter("blocks.0.attn.w_q").to_vector();
  std::vector<double> dq(q0.size());
  for (std::size_t i = 0; i < q0.size(); ++i) dq[i] = q1[i] - q0[i];
  EXPECT_GT(numerical_rank(dq, 16, 16, 1e-3), 1);
}

TEST(knowledge_lora, targets_that_name_nothing_are_an_error) {
  set_num_threads(1);
  knowledge::kb_config c;
  const auto ds = six_people(c);
  auto model = tiny_model(ds);
  train::optim_config oc;
  oc.batch_size = 4;
  knowledge::fit_extras x;
  x.lora_rank = 2;
  x.lora_targets = {"w_query"};
  try {
    knowledge::fit(*model, ds.train, ds.pad_id, oc, 2, 1e-2, 1, 0, x);
    FAIL() << "no error";
  } catch (const lmlab::error& e) {
    EXPECT_NE(std::string(e.what()).find("lora_targets"), std::string::npos) << e.what();
  }
  for (const auto& [name, p] : model->named_parameters()) EXPECT_TRUE(p.requires_grad()) << name;
  c.finetune_params = "lora";
  c.lora_targets = " +";
  c.mode = "pretrain_finetune";
  c.finetune_steps = 1;
  EXPECT_THROW(knowledge::check(c), lmlab::error);
}
