// The rank-one MLP edit: see rome.hpp.
#include "knowledge/rome.hpp"

#include <cmath>

#include "autograd/autograd.hpp"
#include "core/error.hpp"
#include "hooks/hooks.hpp"
#include "ops/ops.hpp"

namespace lmlab::knowledge {

namespace {

std::string key_hook(std::int64_t layer) { return fmt::format("blocks.{}.mlp.hook_post", layer); }
std::string out_hook(std::int64_t layer) { return fmt::format("blocks.{}.hook_mlp_out", layer); }
std::string weight_name(std::int64_t layer) { return fmt::format("blocks.{}.mlp.w_out", layer); }

tensor ids_row(const std::vector<std::int32_t>& ids) {
  return tensor::from<std::int32_t>({1, static_cast<std::int64_t>(ids.size())}, std::span<const std::int32_t>(ids));
}

void check_layer(const models::lm& model, std::int64_t layer) {
  LMLAB_CHECK_HINT(layer >= 0 && layer < static_cast<std::int64_t>(model.blocks.size()),
                   "choose a layer in [0, n_layers)", "rome: layer {} does not exist (the model has {} blocks)", layer,
                   model.blocks.size());
  const std::string ffn = model.config().ffn;
  LMLAB_CHECK_HINT(ffn == "gelu" || ffn == "swiglu", "set model.ffn = gelu or swiglu",
                   "rome: the edit needs an MLP ffn (w_out), not '{}'", ffn);
}

}  // namespace

std::vector<double> key_second_moment(models::lm& model, std::int64_t layer, const std::vector<tasks::example>& examples,
                                      std::int32_t pad_id) {
  check_layer(model, layer);
  std::vector<double> C;
  std::size_t M = 0, n = 0;
  const std::size_t batch = 64;
  for (std::size_t i0 = 0; i0 < examples.size(); i0 += batch) {
    std::vector<std::size_t> idx;
    for (std::size_t i = i0; i < std::min(examples.size(), i0 + batch); ++i) idx.push_back(i);
    const auto b = tasks::make_batch(examples, idx, pad_id);
    const tensor ids = tensor::from<std::int32_t>({b.B, b.T}, std::span<const std::int32_t>(b.input));
    auto [logits, cache] = hooks::run_with_cache(model, ids, [&](const std::string& s) { return s == key_hook(layer); });
    const tensor& k = cache.at(key_hook(layer));  // (B, T, M)
    M = static_cast<std::size_t>(k.size(2));
    if (C.empty()) C.assign(M * M, 0.0);
    const auto kv = k.to_vector();
    for (std::int64_t r = 0; r < b.B; ++r) {
      const auto len = static_cast<std::int64_t>(examples[idx[static_cast<std::size_t>(r)]].input.size());
      for (std::int64_t t = 0; t < len; ++t) {
        const double* x = kv.data() + (r * b.T + t) * static_cast<std::int64_t>(M);
        for (std::size_t a = 0; a < M; ++a)
          for (std::size_t c = 0; c < M; ++c) C[a * M + c] += x[a] * x[c];
        ++n;
      }
    }
  }
  LMLAB_CHECK(n > 0, "rome: no tokens to estimate the key second moment from");
  for (auto& x : C) x /= static_cast<double>(n);
  return C;
}

mlp_io mlp_at(models::lm& model, std::int64_t layer, const std::vector<std::int32_t>& ids, std::int64_t pos) {
  check_layer(model, layer);
  auto [logits, cache] = hooks::run_with_cache(
      model, ids_row(ids), [&](const std::string& s) { return s == key_hook(layer) || s == out_hook(layer); });
  auto row = [&](const tensor& t) {
    const auto v = t.to_vector();
    const auto D = static_cast<std::size_t>(t.size(2));
    return std::vector<double>(v.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(pos) * D),
                               v.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(pos + 1) * D));
  };
  return {row(cache.at(key_hook(layer))), row(cache.at(out_hook(layer)))};
}

value_fit optimize_value(models::lm& model, std::int64_t layer, const tasks::example& ex, std::int64_t pos,
                         const value_options& opt) {
  check_layer(model, layer);
  const auto T = static_cast<std::int64_t>(ex.input.size());
  const std::int64_t C = model.config().d_model;
  const tensor inputs = ids_row(ex.input);
  const tensor targets = tensor::from<std::int32_t>({1, T}, std::span<const std::int32_t>(ex.target));
  std::vector<float> mask(static_cast<std::size_t>(T), 0.0f);
  mask[static_cast<std::size_t>(pos)] = 1.0f;
  const tensor mask_t = tensor::from<float>({1, T, 1}, std::span<const float>(mask));
  std::int64_t n_sup = 0;
  for (auto t : ex.target) n_sup += t != tasks::ignore_index;
  value_fit fit;
  fit.delta.assign(static_cast<std::size_t>(C), 0.0);
  std::vector<double> m1(fit.delta.size(), 0.0), m2(fit.delta.size(), 0.0);
  const bool was_training = model.training();
  model.eval();
  // p(answer) = exp(-loss · n_sup): loss is the mean over the supervised positions.
  auto run = [&](bool with_grad, std::vector<double>* grad) {
    std::vector<float> d(fit.delta.begin(), fit.delta.end());
    tensor delta = tensor::from<float>({1, 1, C}, std::span<const float>(d));
    if (with_grad) delta.set_requires_grad(true);
    hooks::hook_scope scope(model);
    scope.add(out_hook(layer), [&](const tensor& x, const nn::hook_point&) { return add(x, mul(mask_t, delta)); });
    tensor loss = model.loss(inputs, targets);
    const double l = loss.to_vector()[0];
    if (with_grad) {
      backward(loss);
      const auto g = delta.grad().to_vector();
      for (std::size_t i = 0; i < grad->size(); ++i) (*grad)[i] = g[i] + 2 * opt.l2 * fit.delta[i];
      model.zero_grad();
    }
    return std::exp(-l * static_cast<double>(n_sup));
  };
  {
    no_grad ng;
    fit.prob_before = run(false, nullptr);
  }
  std::vector<double> g(fit.delta.size());
  for (int s = 1; s <= opt.steps; ++s) {
    const double p = run(true, &g);
    if (p >= opt.stop_prob) break;
    // Adam (Kingma & Ba 2015, Algorithm 1) on δ, betas (0.9, 0.999).
    for (std::size_t i = 0; i < g.size(); ++i) {
      m1[i] = 0.9 * m1[i] + 0.1 * g[i];
      m2[i] = 0.999 * m2[i] + 0.001 * g[i] * g[i];
      const double mh = m1[i] / (1 - std::pow(0.9, s)), vh = m2[i] / (1 - std::pow(0.999, s));
      fit.delta[i] -= opt.lr * mh / (std::sqrt(vh) + 1e-8);
    }
    fit.steps = s;
  }
  {
    no_grad ng;
    fit.prob_after = run(false, nullptr);
  }
  model.train(was_training);
  return fit;
}

double answer_prob_with_delta(models::lm& model, std::int64_t layer, const tasks::example& ex, std::int64_t pos,
                              const std::vector<double>& delta) {
  check_layer(model, layer);
  const auto T = static_cast<std::int64_t>(ex.input.size());
  const std::int64_t C = model.config().d_model;
  LMLAB_CHECK(static_cast<std::int64_t>(delta.size()) == C && pos >= 0 && pos < T,
              "rome: answer_prob_with_delta: delta {} for d_model {}, position {} of {}", delta.size(), C, pos, T);
  std::vector<float> mask(static_cast<std::size_t>(T), 0.0f);
  mask[static_cast<std::size_t>(pos)] = 1.0f;
  const tensor mask_t = tensor::from<float>({1, T, 1}, std::span<const float>(mask));
  const std::vector<float> d(delta.begin(), delta.end());
  const tensor delta_t = tensor::from<float>({1, 1, C}, std::span<const float>(d));
  std::int64_t n_sup = 0;
  for (auto t : ex.target) n_sup += t != tasks::ignore_index;
  const bool was_training = model.training();
  model.eval();
  no_grad ng;
  hooks::hook_scope scope(model);
  scope.add(out_hook(layer), [&](const tensor& x, const nn::hook_point&) { return add(x, mul(mask_t, delta_t)); });
  const double l = model.loss(ids_row(ex.input), tensor::from<std::int32_t>({1, T}, std::span<const std::int32_t>(ex.target)))
                       .to_vector()[0];
  model.train(was_training);
  return std::exp(-l * static_cast<double>(n_sup));
}

std::vector<double> solve_spd(const std::vector<double>& A, std::size_t n, const std::vector<double>& b, double ridge) {
  LMLAB_CHECK(A.size() == n * n && b.size() == n, "rome: solve_spd: shapes {} and {} for n = {}", A.size(), b.size(), n);
  std::vector<double> L(n * n, 0.0);  // A + ridge·I = L Lᵀ
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j <= i; ++j) {
      double s = A[i * n + j] + (i == j ? ridge : 0.0);
      for (std::size_t k = 0; k < j; ++k) s -= L[i * n + k] * L[j * n + k];
      if (i == j) {
        LMLAB_CHECK_HINT(s > 0, "raise the ridge (rome lambda)", "rome: the key second moment is not positive definite at {}", i);
        L[i * n + i] = std::sqrt(s);
      } else {
        L[i * n + j] = s / L[j * n + j];
      }
    }
  std::vector<double> y(n), x(n);
  for (std::size_t i = 0; i < n; ++i) {
    double s = b[i];
    for (std::size_t k = 0; k < i; ++k) s -= L[i * n + k] * y[k];
    y[i] = s / L[i * n + i];
  }
  for (std::size_t i = n; i-- > 0;) {
    double s = y[i];
    for (std::size_t k = i + 1; k < n; ++k) s -= L[k * n + i] * x[k];
    x[i] = s / L[i * n + i];
  }
  return x;
}

std::vector<float> apply_rank_one(models::lm& model, std::int64_t layer, const std::vector<double>& C, double lambda,
                                  const std::vector<double>& key, const std::vector<double>& delta) {
  check_layer(model, layer);
  tensor w = model.parameter(weight_name(layer));  // (C, M), shares storage with the model
  const auto rows = static_cast<std::size_t>(w.size(0)), M = static_cast<std::size_t>(w.size(1));
  LMLAB_CHECK(key.size() == M && delta.size() == rows && C.size() == M * M, "rome: key {}, value {} or C {} do not fit W ({}, {})",
              key.size(), delta.size(), C.size(), rows, M);
  double mean_diag = 0;
  for (std::size_t i = 0; i < M; ++i) mean_diag += C[i * M + i];
  mean_diag /= static_cast<double>(M);
  const std::vector<double> u = solve_spd(C, M, key, lambda * mean_diag);  // ref: Meng et al. 2022, eq. 2: C⁻¹ k*
  double uk = 0;
  for (std::size_t i = 0; i < M; ++i) uk += u[i] * key[i];
  LMLAB_CHECK(uk > 0, "rome: kᵀ C⁻¹ k = {} is not positive", uk);
  float* p = w.data<float>();
  std::vector<float> saved(p, p + rows * M);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < M; ++c) p[r * M + c] += static_cast<float>(delta[r] / uk * u[c]);
  return saved;
}

double edit_gain(const std::vector<double>& C, double lambda, const std::vector<double>& key, const std::vector<double>& probe) {
  const std::size_t M = key.size();
  LMLAB_CHECK(C.size() == M * M && probe.size() == M, "rome: edit_gain: C {}, key {}, probe {}", C.size(), M, probe.size());
  double mean_diag = 0;
  for (std::size_t i = 0; i < M; ++i) mean_diag += C[i * M + i];
  mean_diag /= static_cast<double>(M);
  const std::vector<double> u = solve_spd(C, M, key, lambda * mean_diag);
  double uk = 0, up = 0;
  for (std::size_t i = 0; i < M; ++i) uk += u[i] * key[i], up += u[i] * probe[i];
  LMLAB_CHECK(uk > 0, "rome: kᵀ C⁻¹ k = {} is not positive", uk);
  return up / uk;
}

void restore_weight(models::lm& model, std::int64_t layer, const std::vector<float>& saved) {
  tensor w = model.parameter(weight_name(layer));
  LMLAB_CHECK(static_cast<std::size_t>(w.numel()) == saved.size(), "rome: restore: {} values for W of {}", saved.size(), w.numel());
  std::copy(saved.begin(), saved.end(), w.data<float>());
}

}  // namespace lmlab::knowledge
