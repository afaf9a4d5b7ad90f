// Policies: see policy.hpp.
#include "align/policy.hpp"

#include <cmath>

#include "autograd/autograd.hpp"
#include "core/error.hpp"
#include "ops/ops.hpp"
#include "train/optim.hpp"
#include "train/trainer.hpp"

namespace lmlab::align {

namespace {
// log softmax of one row of logits, in double.
std::vector<double> log_softmax_row(const float* x, std::int64_t V) {
  double mx = x[0];
  for (std::int64_t v = 1; v < V; ++v) mx = std::max<double>(mx, x[v]);
  double z = 0;
  for (std::int64_t v = 0; v < V; ++v) z += std::exp(x[v] - mx);
  const double lz = mx + std::log(z);
  std::vector<double> out(static_cast<std::size_t>(V));
  for (std::int64_t v = 0; v < V; ++v) out[static_cast<std::size_t>(v)] = x[v] - lz;
  return out;
}

// Inverse-CDF draw from exp(logp) with the uniform u.
std::int32_t draw(const std::vector<double>& logp, double u) {
  double c = 0;
  for (std::size_t v = 0; v < logp.size(); ++v) {
    c += std::exp(logp[v]);
    if (u < c) return static_cast<std::int32_t>(v);
  }
  return static_cast<std::int32_t>(logp.size() - 1);  // rounding left u above the total
}
}  // namespace

samples sample_responses(models::causal_lm& model, const std::vector<token_seq>& prompts, std::int64_t max_new,
                         std::int32_t eos, rng& r) {
  LMLAB_CHECK(!prompts.empty() && max_new > 0, "align: sampling needs prompts and max_new > 0");
  LMLAB_CHECK(model.supports_step(), "align: the policy needs a step mode to sample");
  const std::int64_t B = static_cast<std::int64_t>(prompts.size());
  const std::size_t P = prompts[0].size();
  for (const auto& p : prompts) LMLAB_CHECK(p.size() == P && P > 0, "align: prompts in one batch must have equal length");
  no_grad ng;
  const bool was_training = model.training();
  model.eval();
  auto st = model.new_state(B);
  std::vector<std::int32_t> ids(static_cast<std::size_t>(B));
  tensor logits;
  for (std::size_t t = 0; t < P; ++t) {
    for (std::int64_t b = 0; b < B; ++b) ids[static_cast<std::size_t>(b)] = prompts[static_cast<std::size_t>(b)][t];
    logits = model.step(*st, tensor::from<std::int32_t>({B}, std::span<const std::int32_t>(ids)));
  }
  samples out;
  out.responses.resize(static_cast<std::size_t>(B));
  out.logp.assign(static_cast<std::size_t>(B), 0.0);
  std::vector<bool> done(static_cast<std::size_t>(B), false);
  const std::int64_t V = logits.size(-1);
  for (std::int64_t i = 0; i < max_new; ++i) {
    tensor lc = logits.contiguous_raw();
    bool all_done = true;
    for (std::int64_t b = 0; b < B; ++b) {
      const auto ub = static_cast<std::size_t>(b);
      const double u = r.uniform();  // drawn for every row, so row b's draws do not depend on others
      if (done[ub]) {
        ids[ub] = eos;
        continue;
      }
      const auto lp = log_softmax_row(lc.data<float>() + b * V, V);
      const std::int32_t next = draw(lp, u);
      out.responses[ub].push_back(next);
      out.logp[ub] += lp[static_cast<std::size_t>(next)];
      done[ub] = next == eos;
      ids[ub] = next;
      all_done = all_done && done[ub];
    }
    if (all_done || i + 1 == max_new) break;
    logits = model.step(*st, tensor::from<std::int32_t>({B}, std::span<const std::int32_t>(ids)));
  }
  model.train(was_training);
  return out;
}

packed_batch pack(const std::vector<token_seq>& prompts, const std::vector<token_seq>& responses, std::int32_t pad,
                  bool whole) {
  const std::size_t drop = whole ? 0 : 1;  // input positions end before the last token
  LMLAB_CHECK(prompts.size() == responses.size() && !prompts.empty(), "align: pack: {} prompts, {} responses",
              prompts.size(), responses.size());
  packed_batch pb;
  pb.B = static_cast<std::int64_t>(prompts.size());
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    LMLAB_CHECK(!prompts[i].empty() && !responses[i].empty(), "align: pack: row {} has an empty prompt or response", i);
    pb.T = std::max<std::int64_t>(pb.T, static_cast<std::int64_t>(prompts[i].size() + responses[i].size() - drop));
  }
  std::vector<std::int32_t> in(static_cast<std::size_t>(pb.B * pb.T), pad);
  pb.targets.assign(in.size(), tasks::ignore_index);
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    token_seq seq = prompts[i];
    seq.insert(seq.end(), responses[i].begin(), responses[i].end());
    const std::size_t row = i * static_cast<std::size_t>(pb.T);
    for (std::size_t t = 0; t + drop < seq.size(); ++t) {
      in[row + t] = seq[t];
      if (!whole && t + 1 >= prompts[i].size()) pb.targets[row + t] = seq[t + 1];
    }
    pb.last.push_back(static_cast<std::int64_t>(seq.size() - drop) - 1);
  }
  pb.inputs = tensor::from<std::int32_t>({pb.B, pb.T}, std::span<const std::int32_t>(in));
  return pb;
}

tensor sequence_logprob(const tensor& logits, const std::vector<std::int32_t>& targets) {
  LMLAB_CHECK(logits.dim() == 3, "align: sequence_logprob: logits must be (B, T, V), got {}", shape_str(logits.shape()));
  const std::int64_t B = logits.size(0), T = logits.size(1), V = logits.size(2);
  LMLAB_CHECK(static_cast<std::int64_t>(targets.size()) == B * T, "align: sequence_logprob: {} targets for B*T = {}",
              targets.size(), B * T);
  // A one-hot selector (B, T, V): sum(log_softmax * onehot) over (T, V) picks each target's
  // log-probability; the selector is a constant, so the gradient is onehot - softmax * count.
  tensor onehot = tensor::zeros({B, T, V}, logits.type());
  for (std::int64_t i = 0; i < B * T; ++i) {
    const std::int32_t y = targets[static_cast<std::size_t>(i)];
    if (y == tasks::ignore_index) continue;
    LMLAB_CHECK(y >= 0 && y < V, "align: sequence_logprob: target {} outside the vocabulary of {}", y, V);
    dispatch_float(onehot.type(), "align", [&]<class F>() { onehot.data<F>()[i * V + y] = F(1); });
  }
  return sum(mul(log_softmax(logits, -1), onehot), {1, 2});
}

tensor policy_logprob(models::causal_lm& model, const packed_batch& b) {
  return sequence_logprob(model.forward(b.inputs), b.targets);
}

std::vector<double> log_ratios(models::causal_lm& ref, const std::vector<token_seq>& prompts, const samples& s,
                               std::int32_t pad) {
  no_grad ng;
  const bool was = ref.training();
  ref.eval();
  const auto lref = policy_logprob(ref, pack(prompts, s.responses, pad)).to_vector();
  ref.train(was);
  std::vector<double> out(lref.size());
  for (std::size_t i = 0; i < lref.size(); ++i) out[i] = s.logp[i] - lref[i];
  return out;
}

policy_config policy_keys::policy() const {
  return {.d_model = policy_d_model, .n_layers = policy_layers, .n_heads = policy_heads, .steps = policy_steps,
          .batch = policy_batch, .lr = policy_lr};
}

void check_policy_keys(const policy_keys& k, const std::string& owner) {
  if (k.policy_d_model % k.policy_heads != 0)
    throw tasks::param_error("policy_heads", fmt::format("{}: policy_heads: {} does not divide policy_d_model {}", owner,
                                                         k.policy_heads, k.policy_d_model));
}

void check_pool(std::int64_t pool, const std::string& owner) {
  if ((pool & (pool - 1)) != 0) throw tasks::param_error("pool", fmt::format("{}: pool: {} is not a power of 2", owner, pool));
}

std::unique_ptr<models::lm> pretrain_policy(std::int64_t vocab_size, std::int64_t n_ctx, std::int32_t pad, const policy_config& c,
                                            std::uint64_t seed, const example_fn& draw, std::vector<float>* losses) {
  models::lm_config mc;
  mc.vocab_size = vocab_size;
  mc.d_model = c.d_model;
  mc.n_layers = c.n_layers;
  mc.n_heads = c.n_heads;
  mc.n_ctx = n_ctx;
  mc.validate("task.policy_");
  auto model = models::make_model(mc, seed);
  train::adamw_options ao;
  ao.beta2 = 0.95;
  ao.weight_decay = 0.0;
  train::adamw opt(model->named_parameters(), ao);
  train::lr_schedule sched;
  sched.max_lr = c.lr;
  sched.min_lr = c.lr * 0.1;
  sched.warmup = std::min<std::int64_t>(50, c.steps / 10);
  sched.total = c.steps;
  train::loop_callbacks cb;
  cb.batch = [&](std::int64_t step) {
    rng r(seed, 0x5F7ull + static_cast<std::uint64_t>(step));  // batches are a pure function of (seed, step)
    std::vector<token_seq> prompts, responses;
    for (std::int64_t i = 0; i < c.batch; ++i) {
      auto [x, y] = draw(r);
      prompts.push_back(std::move(x));
      responses.push_back(std::move(y));
    }
    const packed_batch pb = pack(prompts, responses, pad);
    train::step_batch sb;
    sb.inputs = pb.inputs;
    sb.targets = tensor::from<std::int32_t>({pb.B, pb.T}, std::span<const std::int32_t>(pb.targets));
    return sb;
  };
  cb.after_step = [&](std::int64_t, float loss) {
    if (losses) losses->push_back(loss);
  };
  model->train();
  train::train_steps(*model, opt, sched, 1.0, 0, c.steps, cb);
  model->eval();
  return model;
}

std::unique_ptr<models::lm> pretrain_reference(const arithmetic_env& env, const policy_config& c, std::uint64_t seed,
                                               std::vector<float>* losses) {
  return pretrain_policy(env.vocab().size(), env.n_ctx(), env.pad(), c, seed,
                         [&](rng& r) {
                           item it = env.draw(r);
                           token_seq y = env.pretraining_response(it, r);
                           return std::pair<token_seq, token_seq>{std::move(it.prompt), std::move(y)};
                         },
                         losses);
}

std::unique_ptr<models::lm> clone(const models::lm& m) {
  auto out = models::make_model(m.config(), 0);
  const auto src = m.named_parameters();
  const auto dst = out->named_parameters();
  LMLAB_CHECK(src.size() == dst.size(), "align: clone: parameter lists differ");
  for (std::size_t i = 0; i < src.size(); ++i) {
    tensor d = dst[i].second;
    d.copy_from(src[i].second);
  }
  return out;
}

}  // namespace lmlab::align
