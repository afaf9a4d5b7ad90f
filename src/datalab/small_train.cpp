// Small models trained on token examples: see small_train.hpp.
#include "datalab/small_train.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "tasks/dataset.hpp"
#include "train/optim.hpp"

namespace lmlab::datalab {

token_example next_token_example(const std::vector<std::int32_t>& tokens, std::size_t prompt_len) {
  LMLAB_CHECK(tokens.size() >= 2 && prompt_len >= 1, "example: need at least 2 tokens and a prompt");
  token_example e;
  e.input.assign(tokens.begin(), tokens.end() - 1);
  e.target.assign(e.input.size(), tasks::ignore_index);
  for (std::size_t t = prompt_len - 1; t + 1 < tokens.size(); ++t) e.target[t] = tokens[t + 1];
  return e;
}

train::step_batch example_batch(const std::vector<token_example>& data, std::int64_t B, std::int32_t pad, std::uint64_t seed,
                                std::int64_t step) {
  LMLAB_CHECK(!data.empty(), "training: no examples");
  rng g(seed, 0x42000000ull + static_cast<std::uint64_t>(step));
  std::vector<std::size_t> pick(static_cast<std::size_t>(B));
  std::size_t T = 1;
  for (auto& i : pick) {
    i = static_cast<std::size_t>(g.below(data.size()));
    T = std::max(T, data[i].input.size());
  }
  std::vector<std::int32_t> in(static_cast<std::size_t>(B) * T, pad), tg(in.size(), tasks::ignore_index);
  for (std::size_t b = 0; b < pick.size(); ++b) {
    const auto& e = data[pick[b]];
    std::copy(e.input.begin(), e.input.end(), in.begin() + static_cast<std::ptrdiff_t>(b * T));
    std::copy(e.target.begin(), e.target.end(), tg.begin() + static_cast<std::ptrdiff_t>(b * T));
  }
  const auto Ti = static_cast<std::int64_t>(T);
  return {tensor::from<std::int32_t>({B, Ti}, std::span<const std::int32_t>(in)),
          tensor::from<std::int32_t>({B, Ti}, std::span<const std::int32_t>(tg)), g.next_u64()};
}

std::unique_ptr<models::lm> train_on_examples(const models::lm_config& mc, const std::vector<token_example>& data,
                                              const train::optim_config& oc, std::int64_t steps, std::int32_t pad,
                                              std::uint64_t seed, double* last_loss, const models::causal_lm* init) {
  auto model = models::make_model(mc, seed);
  if (init)
    for (auto& [name, t] : model->named_parameters()) {
      const tensor src = init->parameter(name);
      LMLAB_CHECK(src.shape() == t.shape(), "training: initial weights {} have another shape", name);
      t.copy_from(src);
    }
  train::adamw opt(model->named_parameters(), train::adamw_options{oc.beta1, oc.beta2, oc.eps, oc.weight_decay});
  const train::lr_schedule sched{oc.lr, oc.final_lr(), oc.warmup(steps), steps, train::lr_schedule::shape::cosine, 0.2};
  std::vector<float> losses;
  train::loop_callbacks cb;
  cb.batch = [&](std::int64_t step) { return example_batch(data, oc.batch_size, pad, seed, step); };
  cb.after_step = [&](std::int64_t, float loss) { losses.push_back(loss); };
  model->train(true);
  train::train_steps(*model, opt, sched, oc.grad_clip, 0, steps, cb);
  if (last_loss && !losses.empty()) {
    const std::size_t n = std::max<std::size_t>(1, losses.size() / 10);
    double s = 0;
    for (std::size_t i = losses.size() - n; i < losses.size(); ++i) s += losses[i];
    *last_loss = s / static_cast<double>(n);
  }
  return model;
}

}  // namespace lmlab::datalab
