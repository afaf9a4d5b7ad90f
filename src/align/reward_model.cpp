// Reward models: see reward_model.hpp.
#include "align/reward_model.hpp"

#include <cmath>
#include <map>

#include "align/objectives.hpp"
#include "autograd/autograd.hpp"
#include "core/error.hpp"
#include "ops/ops.hpp"
#include "tasks/params.hpp"
#include "train/optim.hpp"

namespace lmlab::align {

reward_model::reward_model(const nlohmann::json& backbone, std::int64_t vocab_size, std::int64_t n_ctx, std::uint64_t seed,
                           const std::string& where) {
  nlohmann::json j = backbone;
  j["vocab_size"] = vocab_size;
  j["n_ctx"] = n_ctx;
  j["tie_embeddings"] = false;  // the unused LM head must not share the embedding's gradient
  models::lm_config c = models::lm_config_from_json(j, where);
  c.validate(where + ".");
  lm_ = models::make_model(c, seed);
  rng r(seed, 0x4EADull);
  std::vector<float> w(static_cast<std::size_t>(c.d_model));
  for (auto& x : w) x = static_cast<float>(0.1 * r.normal());
  head_w_ = tensor::from<float>({c.d_model}, std::span<const float>(w));
  head_w_.set_requires_grad(true).set_name("head.weight");
  head_b_ = tensor::zeros({1});
  head_b_.set_requires_grad(true).set_name("head.bias");
}

tensor reward_model::final_hidden(const packed_batch& b) {
  // The last block's residual stream, observed through its hook point (B, T, C).
  tensor resid;
  auto& hp = lm_->blocks[lm_->blocks.size() - 1].hook_resid_post;
  const int h = hp.add([&](const tensor& x, const nn::hook_point&) {
    resid = x;
    return tensor{};
  });
  try {
    lm_->forward(b.inputs);
  } catch (...) {
    hp.remove(h);
    throw;
  }
  hp.remove(h);
  return static_cast<models::norm_module&>(*lm_->ln_f).forward(resid);  // (B,T,C)
}

tensor reward_model::forward(const packed_batch& b) {
  const std::int64_t B = b.B, T = b.T, C = lm_->config().d_model;
  tensor hn = final_hidden(b);  // (B,T,C)
  tensor pick = tensor::zeros({B, T, 1}, hn.type());
  dispatch_float(pick.type(), "align", [&]<class F>() {
    for (std::int64_t i = 0; i < B; ++i) pick.data<F>()[i * T + b.last[static_cast<std::size_t>(i)]] = F(1);
  });
  tensor last = sum(mul(hn, expand(pick, {B, T, C})), {1});            // (B,C)
  tensor r = sum(mul(last, expand(unsqueeze(head_w_, 0), {B, C})), {1});  // (B)
  return add(r, expand(head_b_, {B}));
}

tensor reward_model::forward_all(const packed_batch& b) {
  const std::int64_t B = b.B, T = b.T, C = lm_->config().d_model;
  tensor hn = final_hidden(b);                                                        // (B,T,C)
  tensor r = sum(mul(hn, expand(unsqueeze(unsqueeze(head_w_, 0), 0), {B, T, C})), {2});  // (B,T)
  return add(r, expand(unsqueeze(head_b_, 0), {B, T}));
}

std::vector<double> reward_model::score(const std::vector<token_seq>& prompts, const std::vector<token_seq>& responses,
                                        std::int32_t pad, std::int64_t chunk) {
  no_grad ng;
  const bool was = lm_->training();
  lm_->eval();
  std::vector<double> out;
  for (std::size_t s = 0; s < prompts.size(); s += static_cast<std::size_t>(chunk)) {
    const std::size_t e = std::min(prompts.size(), s + static_cast<std::size_t>(chunk));
    const packed_batch pb = pack({prompts.begin() + static_cast<std::ptrdiff_t>(s), prompts.begin() + static_cast<std::ptrdiff_t>(e)},
                                 {responses.begin() + static_cast<std::ptrdiff_t>(s), responses.begin() + static_cast<std::ptrdiff_t>(e)}, pad,
                                 true);
    const auto v = forward(pb).to_vector();
    out.insert(out.end(), v.begin(), v.end());
  }
  lm_->train(was);
  return out;
}

void reward_model::init_from(const models::lm& src) {
  std::map<std::string, tensor> from;
  for (const auto& [name, t] : src.named_parameters()) from.emplace(name, t);
  for (auto& [name, t] : lm_->named_parameters()) {
    const auto it = from.find(name);
    if (name == "lm_head.weight" && it == from.end()) continue;  // unused by the reward model (tied in the source)
    LMLAB_CHECK(it != from.end(), "align: reward model init: the source model has no '{}'", name);
    LMLAB_CHECK(it->second.shape() == t.shape(), "align: reward model init: '{}' is {} in the source, {} here", name,
                shape_str(it->second.shape()), shape_str(t.shape()));
    tensor d = t;
    d.copy_from(it->second);
  }
}

void reward_model::check_policy_shape(const policy_keys& k, const std::string& owner, const std::string& key) const {
  const auto& mc = lm_->config();
  if (mc.d_model != k.policy_d_model || mc.n_layers != k.policy_layers || mc.n_heads != k.policy_heads)
    throw tasks::param_error(key,
                             fmt::format("{}: {}: [model] (d_model {}, n_layers {}, n_heads {}) must have the policy's shape "
                                         "(policy_d_model {}, policy_layers {}, policy_heads {})",
                                         owner, key, mc.d_model, mc.n_layers, mc.n_heads, k.policy_d_model, k.policy_layers,
                                         k.policy_heads),
                             "set [model] to the policy's shape, or " + key + " = false");
}

nn::named_tensors reward_model::named_parameters() const {
  nn::named_tensors p = lm_->named_parameters();
  p.emplace_back("head.weight", head_w_);
  p.emplace_back("head.bias", head_b_);
  return p;
}

std::int64_t reward_model::num_parameters() const {
  std::int64_t n = 0;
  for (const auto& [name, t] : named_parameters())
    if (name != "lm_head.weight") n += t.numel();  // the LM head is not part of the reward model
  return n;
}

namespace {
// labeller::sycophancy_pairs: p becomes (the wrong claim + tail) over (the right answer + tail),
// tail = what follows the leading digits of the chosen response (<eos> if it is malformed).
void claim_pair(preference_pair& p, const arithmetic_env& env) {
  const auto& digits = env.vocab();
  auto is_digit = [&](std::int32_t t) {
    const std::string& s = digits.token(t);
    return s.size() == 1 && s[0] >= '0' && s[0] <= '9';
  };
  std::size_t k = 0;
  while (k < p.chosen.size() && is_digit(p.chosen[k])) ++k;
  // A malformed chosen response lends no tail (its digits would not parse): then just <eos>.
  const token_seq tail = env.score(p.prompt, p.chosen).well_formed
                             ? token_seq(p.chosen.begin() + static_cast<std::ptrdiff_t>(k), p.chosen.end())
                             : token_seq{env.eos()};
  p.chosen = p.prompt.opinion;
  p.chosen.insert(p.chosen.end(), tail.begin(), tail.end());
  p.rejected = p.prompt.answer;
  p.rejected.insert(p.rejected.end(), tail.begin(), tail.end());
  p.biased = true;
}
}  // namespace

std::vector<preference_pair> make_pairs(models::causal_lm& policy, const arithmetic_env& env, std::int64_t n,
                                        const labeller& lab, rng& r) {
  LMLAB_CHECK(lab.label_noise >= 0 && lab.label_noise <= 0.5, "align: label_noise {} outside [0, 0.5]", lab.label_noise);
  LMLAB_CHECK(lab.length_bias >= 0 && lab.length_bias <= 1, "align: length_bias {} outside [0, 1]", lab.length_bias);
  LMLAB_CHECK(lab.sycophancy_bias >= 0 && lab.sycophancy_bias <= 1, "align: sycophancy_bias {} outside [0, 1]",
              lab.sycophancy_bias);
  LMLAB_CHECK(lab.keyword_bias >= 0 && lab.keyword_bias <= 1, "align: keyword_bias {} outside [0, 1]", lab.keyword_bias);
  LMLAB_CHECK(lab.sycophancy_pairs >= 0 && lab.sycophancy_pairs <= 1, "align: sycophancy_pairs {} outside [0, 1]",
              lab.sycophancy_pairs);
  const bool any_bias = lab.length_bias > 0 || lab.sycophancy_bias > 0 || lab.keyword_bias > 0;
  std::vector<preference_pair> out;
  const std::int64_t per_batch = 64;
  for (std::int64_t tries = 0; static_cast<std::int64_t>(out.size()) < n; tries += per_batch) {
    LMLAB_CHECK_HINT(tries <= 50 * n, "raise sft_error_rate or filler_p so that responses differ",
                     "align: the policy's sampled pairs tie in gold reward too often ({} pairs from {} tries)",
                     out.size(), tries);
    std::vector<item> items;
    std::vector<token_seq> prompts;
    for (std::int64_t i = 0; i < per_batch; ++i) {
      items.push_back(env.draw(r));
      prompts.push_back(items.back().prompt);
      prompts.push_back(items.back().prompt);
    }
    const samples s = sample_responses(policy, prompts, env.max_response(), env.eos(), r);
    for (std::int64_t i = 0; i < per_batch && static_cast<std::int64_t>(out.size()) < n; ++i) {
      const auto& y1 = s.responses[static_cast<std::size_t>(2 * i)];
      const auto& y2 = s.responses[static_cast<std::size_t>(2 * i + 1)];
      const gold_score s1 = env.score(items[static_cast<std::size_t>(i)], y1);
      const gold_score s2 = env.score(items[static_cast<std::size_t>(i)], y2);
      const double g1 = s1.reward, g2 = s2.reward;
      if (g1 == g2) continue;
      preference_pair p{items[static_cast<std::size_t>(i)], g1 > g2 ? y1 : y2, g1 > g2 ? y2 : y1, false, false};
      // The noise draw comes first and the bias draw only when there is a bias, so an unbiased
      // labeller draws exactly as before the bias existed (same pairs, same runs).
      const double u_noise = r.uniform(), u_bias = any_bias ? r.uniform() : 1.0;
      // prefer(y1 over y2 when first_wins)
      auto prefer = [&](bool first_wins) {
        p.biased = true;
        p.chosen = first_wins ? y1 : y2;
        p.rejected = first_wins ? y2 : y1;
      };
      if (u_bias < lab.length_bias && y1.size() != y2.size()) prefer(y1.size() > y2.size());
      if (u_bias < lab.sycophancy_bias && s1.agrees != s2.agrees) prefer(s1.agrees);
      if (u_bias < lab.keyword_bias && s1.keyword != s2.keyword) prefer(s1.keyword);
      if (lab.sycophancy_pairs > 0 && r.uniform() < lab.sycophancy_pairs && items[static_cast<std::size_t>(i)].opinion_wrong)
        claim_pair(p, env);
      if (u_noise < lab.label_noise) {
        std::swap(p.chosen, p.rejected);
        p.flipped = true;
      }
      out.push_back(std::move(p));
    }
  }
  return out;
}

namespace {
packed_batch pack_pairs(const std::vector<preference_pair>& pairs, const std::vector<std::size_t>& idx, std::int32_t pad) {
  std::vector<token_seq> prompts, responses;
  for (const auto i : idx) {
    prompts.push_back(pairs[i].prompt.prompt);
    responses.push_back(pairs[i].chosen);
  }
  for (const auto i : idx) {
    prompts.push_back(pairs[i].prompt.prompt);
    responses.push_back(pairs[i].rejected);
  }
  return pack(prompts, responses, pad, true);
}
}  // namespace

namespace {
nn::named_tensors rm_trainable(reward_model& rm) {
  auto params = rm.named_parameters();
  std::erase_if(params, [](const auto& p) { return p.first == "lm_head.weight"; });
  return params;
}
train::adamw_options rm_adamw(double weight_decay) {
  train::adamw_options ao;
  ao.beta2 = 0.95;
  ao.weight_decay = weight_decay;
  return ao;
}
}  // namespace

rm_optimizer::rm_optimizer(reward_model& rm, double lr, double weight_decay, std::int64_t steps)
    : params_(rm_trainable(rm)), opt_(params_, rm_adamw(weight_decay)) {
  for (const auto& p : params_) plist_.push_back(p.second);
  sched_.max_lr = lr;
  sched_.min_lr = lr * 0.1;
  sched_.warmup = std::min<std::int64_t>(30, steps / 10);
  sched_.total = steps;
}

void rm_optimizer::step(std::int64_t step, double grad_clip) {
  train::clip_grad_norm(plist_, grad_clip);
  opt_.step(sched_.at(step));
}

std::vector<float> train_reward_model(reward_model& rm, const std::vector<preference_pair>& pairs, const rm_train_config& c,
                                      std::int32_t pad, std::uint64_t seed) {
  LMLAB_CHECK(!pairs.empty() && c.steps > 0 && c.batch > 0, "align: reward model training needs pairs, steps and a batch");
  rm_optimizer opt(rm, c.lr, c.weight_decay, c.steps);
  rm.backbone().train();
  std::vector<float> losses;
  for (std::int64_t step = 0; step < c.steps; ++step) {
    rng r(seed, 0xB7ull + static_cast<std::uint64_t>(step));
    std::vector<std::size_t> idx;
    for (std::int64_t i = 0; i < c.batch; ++i) idx.push_back(r.below(pairs.size()));
    const packed_batch pb = pack_pairs(pairs, idx, pad);
    opt.zero_grad();
    tensor rw = rm.forward(pb);  // (2B): chosen rows first
    const std::int64_t B = static_cast<std::int64_t>(idx.size());
    tensor loss = bt_loss(narrow(rw, 0, 0, B), narrow(rw, 0, B, B));
    const double l = loss.item();
    LMLAB_CHECK(std::isfinite(l), "align: reward model loss is {} at step {}", l, step);
    backward(loss);
    opt.step(step, c.grad_clip);
    losses.push_back(static_cast<float>(l));
  }
  rm.backbone().eval();
  return losses;
}

double pair_accuracy(reward_model& rm, const std::vector<preference_pair>& pairs, std::int32_t pad) {
  LMLAB_CHECK(!pairs.empty(), "align: pair_accuracy: no pairs");
  std::vector<token_seq> prompts, chosen, rejected;
  for (const auto& p : pairs) {
    prompts.push_back(p.prompt.prompt);
    chosen.push_back(p.chosen);
    rejected.push_back(p.rejected);
  }
  const auto rc = rm.score(prompts, chosen, pad), rr = rm.score(prompts, rejected, pad);
  double hits = 0;
  for (std::size_t i = 0; i < rc.size(); ++i) hits += rc[i] > rr[i] ? 1.0 : rc[i] == rr[i] ? 0.5 : 0.0;
  return hits / static_cast<double>(rc.size());
}

}  // namespace lmlab::align
