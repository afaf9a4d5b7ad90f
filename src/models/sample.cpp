// Sampling: see sample.hpp.
#include "models/sample.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "autograd/autograd.hpp"
#include "core/rng.hpp"
#include "models/lm.hpp"

namespace lmlab::models {

std::int32_t pick_token(std::span<const float> logits, const sample_options& opt, double u) {
  const std::size_t V = logits.size();
  LMLAB_CHECK(V > 0, "sample: empty logits");
  LMLAB_CHECK(opt.temperature >= 0, "sample: temperature must be >= 0, got {}", opt.temperature);
  LMLAB_CHECK(opt.top_p > 0 && opt.top_p <= 1, "sample: top_p must be in (0, 1], got {}", opt.top_p);
  LMLAB_CHECK(opt.top_k >= 0, "sample: top_k must be >= 0, got {}", opt.top_k);
  if (opt.temperature == 0)
    return static_cast<std::int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  // Candidates sorted by logit (ties by id, so the order is deterministic).
  std::vector<std::int32_t> idx(V);
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](std::int32_t a, std::int32_t b) { return logits[a] > logits[b]; });
  std::size_t keep = V;
  if (opt.top_k > 0) keep = std::min<std::size_t>(keep, static_cast<std::size_t>(opt.top_k));
  std::vector<double> p(keep);
  const double mx = logits[idx[0]];
  double z = 0;
  for (std::size_t i = 0; i < keep; ++i) z += p[i] = std::exp((logits[idx[i]] - mx) / opt.temperature);
  for (auto& x : p) x /= z;
  if (opt.top_p < 1) {
    // Smallest prefix whose probability mass reaches top_p.
    double c = 0;
    std::size_t n = 0;
    while (n < keep && c < opt.top_p) c += p[n++];
    keep = std::max<std::size_t>(n, 1);
    p.resize(keep);
    z = std::accumulate(p.begin(), p.end(), 0.0);
    for (auto& x : p) x /= z;
  }
  double c = 0;
  for (std::size_t i = 0; i < keep; ++i) {
    c += p[i];
    if (u < c) return idx[i];
  }
  return idx[keep - 1];
}

std::vector<std::int32_t> generate(causal_lm& model, std::vector<std::int32_t> ids, const sample_options& opt,
                                   const std::function<bool(std::int32_t)>& on_token) {
  LMLAB_CHECK(!ids.empty(), "sample: the prompt encodes to no tokens");
  no_grad ng;
  const bool was_training = model.training();
  model.eval();
  rng r(opt.seed, 0x5A3B1E);
  const std::int64_t n_ctx = model.n_ctx(), V = model.vocab_size();
  for (std::int32_t id : ids)
    LMLAB_CHECK(id >= 0 && id < V, "sample: prompt token id {} is outside the vocabulary of {}", id, V);
  std::vector<std::int32_t> out;
  // Incremental path: the whole sequence must fit when positions are a learned table.
  const auto* zoo = dynamic_cast<const lm*>(&model);
  const bool bounded = !zoo || zoo->config().pos_encoding == "learned";
  if (model.supports_step() && (!bounded || static_cast<std::int64_t>(ids.size()) + opt.max_new_tokens <= n_ctx)) {
    auto st = model.new_state(1);
    tensor logits;
    for (std::int32_t id : ids) logits = model.step(*st, tensor::from<std::int32_t>({1}, {id}));
    for (std::int64_t i = 0; i < opt.max_new_tokens; ++i) {
      const std::int32_t next = pick_token(std::span<const float>(logits.data<float>(), V), opt, r.uniform());
      ids.push_back(next);
      out.push_back(next);
      if (on_token && !on_token(next)) break;
      if (i + 1 < opt.max_new_tokens) logits = model.step(*st, tensor::from<std::int32_t>({1}, {next}));
    }
    model.train(was_training);
    return out;
  }
  for (std::int64_t i = 0; i < opt.max_new_tokens; ++i) {
    const std::int64_t T = std::min<std::int64_t>(static_cast<std::int64_t>(ids.size()), n_ctx);
    tensor x = tensor::from<std::int32_t>({1, T}, std::span<const std::int32_t>(ids.data() + ids.size() - T, T));
    tensor logits = model.forward(x);  // (1, T, V)
    tensor last = logits.narrow_raw(1, T - 1, 1).contiguous_raw();
    const std::int32_t next = pick_token(std::span<const float>(last.data<float>(), V), opt, r.uniform());
    ids.push_back(next);
    out.push_back(next);
    if (on_token && !on_token(next)) break;
  }
  model.train(was_training);
  return out;
}

}  // namespace lmlab::models
