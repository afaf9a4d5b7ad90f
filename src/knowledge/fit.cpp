// Training phases, answer scoring and logging for the knowledge runners: see fit.hpp.
#include "knowledge/fit.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>

#include "autograd/autograd.hpp"
#include "core/rng.hpp"
#include "knowledge/lora.hpp"
#include "store/results_store.hpp"
#include "train/optim.hpp"
#include "train/trainer.hpp"

namespace lmlab::knowledge {

namespace {
tensor ids_tensor(const std::vector<std::int32_t>& v, std::int64_t B, std::int64_t T) {
  return tensor::from<std::int32_t>({B, T}, std::span<const std::int32_t>(v));
}
}  // namespace

// Freezes the parameters `trainable` rejects for one phase (no gradient, so neither the
// optimizer nor the clipping norm sees them) and unfreezes them when the phase ends.
class freeze_scope {
 public:
  freeze_scope(models::causal_lm& model, const std::function<bool(const std::string&)>& trainable) {
    model.zero_grad();  // a gradient left by an earlier phase must not enter this phase's clipping norm
    const auto params = model.named_parameters();
    for (const auto& [name, t] : params)
      if (trainable && !trainable(name)) frozen_.push_back(t);
    LMLAB_CHECK(frozen_.size() < params.size(), "knowledge: a training phase's parameter filter leaves nothing to train");
    for (auto& t : frozen_) t.set_requires_grad(false);
  }
  ~freeze_scope() {
    for (auto& t : frozen_) t.set_requires_grad(true);
  }
  freeze_scope(const freeze_scope&) = delete;
  freeze_scope& operator=(const freeze_scope&) = delete;

 private:
  std::vector<tensor> frozen_;
};

float fit(models::causal_lm& model, const std::vector<tasks::example>& examples, std::int32_t pad_id,
          const train::optim_config& oc, std::int64_t steps, double lr, std::uint64_t seed, std::uint64_t stream,
          const fit_extras& extras) {
  LMLAB_CHECK(!examples.empty() && steps > 0, "knowledge: a training phase needs examples and steps > 0");
  model.train(true);
  std::function<bool(const std::string&)> trainable = extras.trainable;
  if (extras.lora_rank > 0)
    trainable = [&extras](const std::string& name) {
      return lora_matches(name, extras.lora_targets) && (!extras.trainable || extras.trainable(name));
    };
  if (extras.lora_rank > 0) {
    bool any = false;
    for (const auto& [name, t] : model.named_parameters()) any = any || trainable(name);
    LMLAB_CHECK_HINT(any, "name parameters by dotted components joined by +, e.g. w_q+w_v+wte",
                     "knowledge: lora_targets '{}' name no parameter of the model", fmt::join(extras.lora_targets, "+"));
  }
  const freeze_scope frozen(model, trainable);
  nn::named_tensors params;
  for (auto& [name, t] : model.named_parameters())
    if (!trainable || trainable(name)) params.emplace_back(name, t);
  std::optional<lora_adapters> lora;
  if (extras.lora_rank > 0) {
    lora.emplace(params, extras.lora_rank, extras.lora_alpha, seed ^ stream);
    params = lora->parameters();
  }
  train::adamw optim(std::move(params), {oc.beta1, oc.beta2, oc.eps, oc.weight_decay});
  const double min_lr = oc.min_lr >= 0 ? oc.min_lr * (lr / oc.lr) : lr * 0.1;
  const train::lr_schedule sched{lr, min_lr, oc.warmup(steps), steps, train::lr_schedule::shape::cosine, 0.2};
  const rng batch_stream(seed ^ 0x4b4eull, stream);
  const auto B = static_cast<std::size_t>(oc.batch_size);
  float last = NAN;
  train::loop_callbacks cb;
  cb.batch = [&](std::int64_t at) {
    rng r = batch_stream.fork(static_cast<std::uint64_t>(at));
    std::vector<std::size_t> idx(B);
    for (auto& i : idx) i = static_cast<std::size_t>(r.below(examples.size()));
    auto b = tasks::make_batch(examples, idx, pad_id);
    return train::step_batch{ids_tensor(b.input, b.B, b.T), ids_tensor(b.target, b.B, b.T), r.next_u64()};
  };
  if (lora)
    cb.after_backward = [&] {  // the adapters' gradients, clipped by themselves (W's are cleared)
      lora->backward();
      train::clip_grad_norm(lora->tensors(), oc.grad_clip);
    };
  cb.after_step = [&](std::int64_t done, float loss) {
    LMLAB_CHECK(std::isfinite(loss), "knowledge: training loss is {} (diverged)", loss);
    last = loss;
    if (lora) lora->merge();
    if (extras.every > 0 && extras.on_every && done % extras.every == 0) {
      extras.on_every(done);
      model.train(true);
    }
  };
  train::train_steps(model, optim, sched, oc.grad_clip, 0, steps, cb);
  return last;
}

std::vector<answer_score> score_answers(models::causal_lm& model, const std::vector<tasks::example>& examples,
                                        std::int32_t pad_id, std::int64_t batch) {
  no_grad ng;
  std::vector<answer_score> out(examples.size());
  for (std::size_t i0 = 0; i0 < examples.size(); i0 += static_cast<std::size_t>(batch)) {
    std::vector<std::size_t> idx;
    for (std::size_t i = i0; i < std::min(examples.size(), i0 + static_cast<std::size_t>(batch)); ++i) idx.push_back(i);
    auto b = tasks::make_batch(examples, idx, pad_id);
    const tensor logits = model.forward(ids_tensor(b.input, b.B, b.T)).contiguous_raw();  // (B, T, V)
    const std::int64_t V = logits.size(2);
    const float* p = logits.data<float>();
    for (std::int64_t r = 0; r < b.B; ++r) {
      const tasks::example& ex = examples[idx[static_cast<std::size_t>(r)]];
      answer_score& s = out[idx[static_cast<std::size_t>(r)]];
      s.correct = true;
      s.confidence = 1;
      for (std::size_t t = 0; t < ex.target.size(); ++t) {
        if (ex.target[t] == tasks::ignore_index) continue;
        const float* row = p + (r * b.T + static_cast<std::int64_t>(t)) * V;
        const std::int64_t am = std::max_element(row, row + V) - row;
        double z = 0;  // log-sum-exp around the max, in double
        for (std::int64_t v = 0; v < V; ++v) z += std::exp(static_cast<double>(row[v]) - row[am]);
        const double lse = row[am] + std::log(z);
        s.logprob += static_cast<double>(row[ex.target[t]]) - lse;
        s.confidence *= std::exp(static_cast<double>(row[am]) - lse);
        s.argmax.push_back(static_cast<std::int32_t>(am));
        s.correct = s.correct && am == ex.target[t];
      }
    }
  }
  return out;
}

void log_eval(const lab::run_context& ctx, const std::string& slice, const std::string& metric, double value,
              std::int64_t n) {
  ctx.log_eval(slice, metric, value, n);
}

void log_run_metric(const lab::run_context& ctx, std::int64_t step, const std::string& name, double value) {
  ctx.log_metric(step, name, value);
}

double log_accuracy(const lab::run_context& ctx, const std::vector<tasks::example>& examples,
                    const std::vector<answer_score>& scores, const std::string& split) {
  std::map<std::pair<double, std::string>, std::pair<std::int64_t, std::int64_t>> per;  // (n, correct)
  std::int64_t n = 0, correct = 0;
  for (std::size_t i = 0; i < examples.size(); ++i) {
    auto& c = per[{examples[i].difficulty, examples[i].slice}];
    ++c.first;
    c.second += scores[i].correct;
    ++n;
    correct += scores[i].correct;
  }
  const double all = n ? static_cast<double>(correct) / static_cast<double>(n) : 0.0;
  if (!ctx.db) return all;
  for (const auto& [key, c] : per) {
    const double acc = static_cast<double>(c.second) / static_cast<double>(c.first);
    ctx.db->log_evaluation(ctx.store_run, split, key.second, "accuracy", acc, c.first);
    ctx.db->log_evaluation(ctx.store_run, split, key.second, "difficulty", key.first, c.first);
  }
  ctx.db->log_evaluation(ctx.store_run, split, "all", "accuracy", all, n);
  return all;
}

std::vector<tasks::example> with_slice(const std::vector<tasks::example>& all, const std::string& slice) {
  std::vector<tasks::example> out;
  const bool prefix = !slice.empty() && slice.back() == '/';
  for (const auto& e : all)
    if (prefix ? e.slice.rfind(slice, 0) == 0 : e.slice == slice) out.push_back(e);
  return out;
}

}  // namespace lmlab::knowledge
