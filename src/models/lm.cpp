// The zoo language model: blocks by pattern, MoD routing, step mode: see lm.hpp.
#include "models/lm.hpp"

#include <algorithm>
#include <cmath>

#include "autograd/autograd.hpp"
#include "nn/init.hpp"
#include "ops/ops.hpp"
#include "ops/routing.hpp"

namespace lmlab::models {

// ---- causal_lm defaults ------------------------------------------------------------------

tensor causal_lm::loss(const tensor& batch) {
  LMLAB_CHECK(batch.dim() == 2 && batch.size(1) >= 2, "model: a batch must be (B, T+1) with T >= 1, got {}",
              shape_str(batch.shape()));
  const std::int64_t T = batch.size(1) - 1;
  return loss(batch.narrow_raw(1, 0, T).contiguous_raw(), batch.narrow_raw(1, 1, T).contiguous_raw());
}

tensor causal_lm::loss(const tensor& inputs, const tensor& targets) {
  LMLAB_CHECK(targets.shape() == inputs.shape() && targets.type() == dtype::i32,
              "model: targets must be i32 of the inputs' shape {}, got {} {}", shape_str(inputs.shape()),
              dtype_name(targets.type()), shape_str(targets.shape()));
  const std::int64_t N = inputs.numel();
  tensor logits = forward(inputs);
  return cross_entropy(reshape(logits, {N, vocab_size()}), targets.contiguous_raw().view_raw({N}));
}

std::unique_ptr<lm_state> causal_lm::new_state(std::int64_t) const {
  throw error("model: this model has no step mode", "use forward on the whole sequence");
}

tensor causal_lm::step(lm_state&, const tensor&) {
  throw error("model: this model has no step mode", "use forward on the whole sequence");
}

// ---- norm --------------------------------------------------------------------------------

norm_module::norm_module(const std::string& kind, std::int64_t dim, double e) : rms(kind == "rmsnorm"), eps(e) {
  weight = register_parameter("weight", tensor::ones({dim}));
  if (!rms) bias = register_parameter("bias", tensor::zeros({dim}));
}

tensor norm_module::forward(const tensor& x) const {
  // ref: Zhang & Sennrich 2019 (RMSNorm) eq. 4 for rmsnorm; Ba et al. 2016 for layernorm.
  return rms ? rms_norm(x, weight, eps) : layer_norm(x, weight, bias, eps);
}

// ---- block -------------------------------------------------------------------------------

lm_block::lm_block(const lm_config& c, std::int64_t l)
    : layer(l), ln1(c.norm, c.d_model, c.layer_norm_eps), ln2(c.norm, c.d_model, c.layer_norm_eps) {
  const std::string mk(1, c.mixer_of(l));
  mix = make_mixer(mk, c, l);
  const std::string fk = mk == "W" ? "channel_mix" : c.ffn;
  ffn = make_mixer(fk, c, l);
  register_module("ln1", ln1);
  register_module(mixer_module_name(mk), *mix);
  register_module("ln2", ln2);
  register_module(mixer_module_name(fk), *ffn);
  if (c.mod_on(l)) {
    mod_capacity = c.mod_capacity;
    mod_router = std::make_unique<nn::linear>(c.d_model, 1, false);
    register_module("mod_router", *mod_router);
  }
  register_hook_point("hook_resid_pre", hook_resid_pre);
  register_hook_point("hook_attn_out", hook_attn_out);
  register_hook_point("hook_resid_mid", hook_resid_mid);
  register_hook_point("hook_mlp_out", hook_mlp_out);
  register_hook_point("hook_resid_post", hook_resid_post);
  register_hook_point("hook_mod_weights", hook_mod_weights);
}

tensor lm_block::inner(const tensor& x_in, double p, std::uint64_t seed, std::uint64_t site) {
  const bool drop = training() && p > 0;
  tensor x = hook_resid_pre(x_in);
  tensor a = hook_attn_out(mix->forward(ln1.forward(x)));
  if (drop) a = dropout(a, p, true, seed, site << 40);
  x = hook_resid_mid(add(x, a));
  tensor m = hook_mlp_out(ffn->forward(ln2.forward(x)));
  if (drop) m = dropout(m, p, true, seed, (site + 1) << 40);
  return hook_resid_post(add(x, m));
}

tensor lm_block::forward(const tensor& x, double p, std::uint64_t seed, std::uint64_t site) {
  if (!mod_router) return inner(x, p, seed, site);
  // ref: Raposo et al. 2024 (Mixture-of-Depths) eq. 1: the top-k tokens by router weight r go
  // through the block, x' = x + r * f(x) for them; the rest skip it on the residual. The kept
  // tokens keep their order, so attention among them stays causal (positions inside the
  // block are their ranks among the kept tokens).
  const std::int64_t B = x.size(0), T = x.size(1), C = x.size(2);
  tensor router = reshape(mod_router->forward(x), {B, T});
  mod_routing r = mod_route(router, mod_capacity);
  const std::int64_t k = r.k;
  // The causal decision step mode uses (r > 0) against the top-k it stands in for.
  {
    const std::vector<double> rv = router.to_vector();
    std::vector<char> kept(rv.size(), 0);
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t j = 0; j < k; ++j) kept[static_cast<std::size_t>(b * T + r.indices[static_cast<std::size_t>(b * k + j)])] = 1;
    mod_agree = 0;
    for (std::size_t i = 0; i < rv.size(); ++i) mod_agree += (rv[i] > 0) == (kept[i] != 0);
  }
  // The predictor's loss reaches the router weights only: its input is detached so that the
  // auxiliary task does not reshape the residual stream (our choice; the paper's sec. 3.5
  // applies a stop-gradient to the inputs of its second, separate-predictor method).
  mod_aux = training() ? mod_predictor_loss(reshape(mod_router->forward(x.detach()), {B, T}), r) : tensor{};
  std::vector<std::int32_t> flat(r.indices.size());
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t j = 0; j < k; ++j)
      flat[static_cast<std::size_t>(b * k + j)] = static_cast<std::int32_t>(b * T + r.indices[static_cast<std::size_t>(b * k + j)]);
  tensor xf = reshape(x, {B * T, C});
  tensor xs = reshape(index_rows(xf, flat), {B, k, C});
  tensor delta = sub(inner(xs, p, seed, site), xs);
  tensor w = hook_mod_weights(r.weights);  // (B, k)
  tensor upd = mul(delta, unsqueeze(w, -1));
  mod_kept = B * k;
  mod_total = B * T;
  return reshape(index_add_rows(xf, flat, reshape(upd, {B * k, C})), {B, T, C});
}

block_state lm_block::new_state(std::int64_t B) const {
  block_state s;
  const std::int64_t copies = mod_router ? B : 1, batch = mod_router ? 1 : B;
  for (std::int64_t i = 0; i < copies; ++i) {
    s.mix.push_back(mix->new_state(batch));
    s.ffn.push_back(ffn->new_state(batch));
  }
  return s;
}

tensor lm_block::inner_step(const tensor& x_in, mixer_state* ms, mixer_state* fs) {
  // As inner() on a sequence of length 1; hooks see (n, 1, C).
  const std::int64_t n = x_in.size(0), C = x_in.size(1);
  const auto seq = [&](const tensor& t) { return reshape(t, {n, 1, C}); };
  const auto rows = [&](const tensor& t) { return reshape(t, {n, C}); };
  tensor x = hook_resid_pre(seq(x_in));
  tensor a = hook_attn_out(seq(mix->step(ln1.forward(rows(x)), ms)));
  x = hook_resid_mid(add(x, a));
  tensor m = hook_mlp_out(seq(ffn->step(ln2.forward(rows(x)), fs)));
  return rows(hook_resid_post(add(x, m)));
}

tensor lm_block::step(const tensor& x, block_state& s) {
  if (!mod_router) return inner_step(x, s.mix[0].get(), s.ffn[0].get());
  // ref: Raposo et al. 2024 sec. 3.5: a token goes through the block iff the router's output
  // predicts it among the top-k, r > 0 (sigmoid(r) > 1/2, what the BCE trains); then
  // x + r * (block(x) - x) as in the forward, else x. Each sequence has its own states.
  const std::int64_t B = x.size(0);
  const std::vector<double> r = mod_router->forward(x).to_vector();  // (B, 1)
  tensor out = x.contiguous_raw().clone_raw();
  for (std::int64_t b = 0; b < B; ++b) {
    if (!(r[static_cast<std::size_t>(b)] > 0)) continue;
    tensor xb = x.narrow_raw(0, b, 1).contiguous_raw();  // (1, C)
    tensor w = hook_mod_weights(tensor::full({1, 1}, r[static_cast<std::size_t>(b)], x.type()));
    tensor delta = sub(inner_step(xb, s.mix[static_cast<std::size_t>(b)].get(), s.ffn[static_cast<std::size_t>(b)].get()), xb);
    out.narrow_raw(0, b, 1).copy_from(add(xb, mul(delta, w)));
  }
  return out;
}

tensor mod_predictor_loss(const tensor& router, const mod_routing& r) {
  LMLAB_CHECK(router.dim() == 2 && static_cast<std::int64_t>(r.indices.size()) == router.size(0) * r.k,
              "mod_predictor_loss: router (B, T) and a routing of it expected, got {} with {} kept", shape_str(router.shape()),
              r.indices.size());
  const std::int64_t B = router.size(0), T = router.size(1);
  std::vector<double> y(static_cast<std::size_t>(B * T), 0.0);
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t j = 0; j < r.k; ++j) y[static_cast<std::size_t>(b * T + r.indices[static_cast<std::size_t>(b * r.k + j)])] = 1.0;
  tensor target = tensor::from<double>({B, T}, std::span<const double>(y)).to_raw(router.type());
  // BCE with logits: -y log sigmoid(r) - (1 - y) log(1 - sigmoid(r)) = softplus(r) - y r.
  return mean(sub(softplus(router), mul(target, router)));
}

// ---- model -------------------------------------------------------------------------------

namespace {
bool resid_projection(const std::string& name) {
  return name.ends_with(".w_o") || name.ends_with(".w_out") || name.ends_with(".out_proj.weight") ||
         name.ends_with(".output.weight");
}

struct model_state : lm_state {
  std::int64_t batch = 0;
  std::vector<block_state> blocks;
};
}  // namespace

lm::lm(const lm_config& cfg, std::uint64_t seed) : cfg_(cfg) {
  cfg_.validate();
  wte = std::make_unique<nn::embedding>(cfg.vocab_size, cfg.d_model);
  register_module("wte", *wte);
  if (cfg.pos_encoding == "learned") {
    wpe = std::make_unique<nn::embedding>(cfg.n_ctx, cfg.d_model);
    register_module("wpe", *wpe);
  }
  for (std::int64_t i = 0; i < cfg.n_layers; ++i) blocks.push_back(std::make_unique<lm_block>(cfg, i));
  register_module("blocks", blocks);
  auto lnf = std::make_unique<norm_module>(cfg.norm, cfg.d_model, cfg.layer_norm_eps);
  register_module("ln_f", *lnf);
  ln_f = std::move(lnf);
  if (!cfg.tie_embeddings) {
    lm_head = std::make_unique<nn::linear>(cfg.d_model, cfg.vocab_size, false);
    register_module("lm_head", *lm_head);
  }
  register_hook_point("hook_embed", hook_embed);
  register_hook_point("hook_pos_embed", hook_pos_embed);
  finalize_names();
  // GPT-2's rule for every matrix (the default config is GPT-2, as the golden fixtures):
  // N(0, init_std), and N(0, init_std/sqrt(2L)) for projections into the residual stream.
  // ref: Radford et al. 2019, sec. 2.3. Then each mixer's paper-specific initialisation.
  const double resid_std = cfg.init_std / std::sqrt(2.0 * static_cast<double>(cfg.n_layers));
  for (auto& [name, t] : named_parameters()) {
    if (t.dim() < 2) continue;
    const double std = resid_projection(name) ? resid_std : cfg.init_std;
    nn::init_normal(t, 0.0, std, seed, nn::stream_of(name));
  }
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    blocks[i].mix->init_special(seed);
    blocks[i].ffn->init_special(seed);
  }
}

lm::~lm() = default;

// ref: Vaswani et al. 2017 sec. 3.4-3.5: the sinusoid table is added to token embeddings
// multiplied by sqrt(d_model); with embeddings of spread d_model^-1/2 (tensor2tensor's init)
// token and position enter at 1 : 0.71 (the table's rms). Their model is post-LN: each sublayer's
// sum is normalised, so the stream's absolute scale is forgotten after the first one. This stack
// is pre-LN (GPT-2): the embeddings stay in the residual stream, and the blocks' outputs start
// at init_std's scale, about 1% of a unit-scale stream (an estimate); posenc's sinusoidal models
// then copied nothing (docs/lab.md, 2026-12-07 night). So: Vaswani's ratio at the blocks' scale,
// tokens at N(0, init_std) unscaled and the table times init_std.
tensor lm::sinusoid(std::int64_t from, std::int64_t n, dtype t) const {
  return mul_scalar(narrow(sinusoidal_table(from + n, cfg_.d_model, 10000.0, t), 0, from, n), cfg_.init_std);
}

tensor lm::forward(const tensor& ids) { return forward_embeddings(embed(ids)); }

tensor lm::embed(const tensor& ids) {
  LMLAB_CHECK(ids.dim() == 2 && ids.type() == dtype::i32, "lm: ids must be i32 (B, T), got {} {}",
              dtype_name(ids.type()), shape_str(ids.shape()));
  return hook_embed(wte->forward(ids.contiguous_raw()));  // (B,T,C)
}

tensor lm::forward_embeddings(const tensor& x_in) {
  LMLAB_CHECK(x_in.dim() == 3 && x_in.size(2) == cfg_.d_model, "lm: input embeddings must be (B, T, {}), got {}",
              cfg_.d_model, shape_str(x_in.shape()));
  const std::int64_t B = x_in.size(0), T = x_in.size(1), C = cfg_.d_model;
  LMLAB_CHECK_HINT(!wpe || T <= cfg_.n_ctx, "crop the sequence to the last n_ctx tokens (learned positions end there)",
                   "lm: sequence length {} exceeds n_ctx = {}", T, cfg_.n_ctx);
  tensor x = x_in;
  if (wpe || cfg_.pos_encoding == "sinusoidal") {
    tensor pos = wpe ? narrow(wpe->weight, 0, 0, T) : sinusoid(0, T, x.type());  // (T,C)
    if (hook_pos_embed.active()) pos = hook_pos_embed(expand(pos, {B, T, C}));
    x = add(x, pos);
  }
  const bool drop = training() && cfg_.dropout > 0;
  if (drop) x = dropout(x, cfg_.dropout, true, dropout_seed_, 0);
  for (std::size_t i = 0; i < blocks.size(); ++i) x = blocks[i].forward(x, cfg_.dropout, dropout_seed_, 1 + 2 * i);
  x = static_cast<norm_module&>(*ln_f).forward(x);
  return linear(x, cfg_.tie_embeddings ? wte->weight : lm_head->weight);  // (B,T,V)
}

tensor lm::loss(const tensor& inputs, const tensor& targets) {
  tensor l = causal_lm::loss(inputs, targets);
  if (!training()) return l;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    // ref: Fedus et al. 2021 (Switch) eq. 4: total loss = LM loss + alpha * aux loss per layer.
    tensor a = blocks[i].ffn->aux_loss();
    if (a.defined() && cfg_.aux_loss_coef != 0) l = add(l, mul_scalar(a, cfg_.aux_loss_coef));
    // ref: Raposo et al. 2024 sec. 3.5: the sampling predictor's BCE per routed block.
    if (blocks[i].mod_aux.defined() && cfg_.mod_aux_loss_coef != 0)
      l = add(l, mul_scalar(blocks[i].mod_aux, cfg_.mod_aux_loss_coef));
  }
  return l;
}

nlohmann::json lm::last_metrics() const {
  nlohmann::json m = nlohmann::json::object();
  double aux = 0;
  std::int64_t dropped = 0, tokens = 0, kept = 0, seen = 0, agree = 0;
  double mod_aux = 0;
  bool moe = false, mod = false, mod_aux_seen = false;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    auto bm = blocks[i].ffn->last_metrics();
    if (bm.contains("moe_aux_loss")) {
      moe = true;
      aux += bm["moe_aux_loss"].get<double>();
      dropped += bm["moe_dropped_tokens"].get<std::int64_t>();
      tokens += bm["moe_tokens"].get<std::int64_t>();
    }
    if (blocks[i].mod_router) {
      mod = true;
      kept += blocks[i].mod_kept;
      seen += blocks[i].mod_total;
      agree += blocks[i].mod_agree;
      if (blocks[i].mod_aux.defined()) {
        mod_aux_seen = true;
        mod_aux += blocks[i].mod_aux.item();
      }
    }
  }
  if (moe) {
    m["moe_aux_loss"] = aux;              // summed over MoE layers
    m["moe_dropped_tokens"] = dropped;    // tokens with every choice over capacity, all layers
    m["moe_dropped_fraction"] = tokens > 0 ? static_cast<double>(dropped) / static_cast<double>(tokens) : 0.0;
  }
  if (mod) {
    m["mod_processed_fraction"] = seen > 0 ? static_cast<double>(kept) / static_cast<double>(seen) : 0.0;
    // Share of (token, routed block) pairs where the causal decision r > 0 of step mode agrees
    // with the forward's top-k (Raposo et al. 2024 sec. 3.5 report ~99% after training).
    m["mod_predictor_accuracy"] = seen > 0 ? static_cast<double>(agree) / static_cast<double>(seen) : 0.0;
    if (mod_aux_seen) m["mod_aux_loss"] = mod_aux;  // summed over routed blocks (training forwards)
  }
  return m;
}

double lm::flops_per_token(std::int64_t T) const {
  double f = 0;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const auto& b = blocks[i];
    const auto block = [&](std::int64_t t) {
      return b.mix->flops_per_token(t) + b.ffn->flops_per_token(t) +
             2.0 * static_cast<double>(b.ln1.num_parameters() + b.ln2.num_parameters());
    };
    // ref: Raposo et al. 2024 sec. 3.1: a routed block runs on k = ceil(capacity * T) tokens,
    // which also only see each other (attention over k keys), plus the router's 2d per token.
    if (b.mod_router) {
      const auto k = std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(b.mod_capacity * static_cast<double>(T))));
      f += static_cast<double>(k) / static_cast<double>(T) * block(k) + 2.0 * static_cast<double>(cfg_.d_model);
    } else {
      f += block(T);
    }
  }
  // Final norm and the head (the input table is a lookup, no FLOPs).
  return f + 2.0 * static_cast<double>(ln_f->num_parameters() + cfg_.vocab_size * cfg_.d_model);
}

double lm::train_flops_per_token(std::int64_t T) const {
  // ref: Chowdhery et al. 2022 (PaLM) appendix B: training = 3x forward (6N + 12 L d T for GPT).
  return 3.0 * flops_per_token(T);
}

std::int64_t lm::state_size(std::int64_t T) const {
  std::int64_t s = 0;
  for (std::size_t i = 0; i < blocks.size(); ++i) s += blocks[i].mix->state_size(T) + blocks[i].ffn->state_size(T);
  return s;
}

void lm::set_rope_scaling(const rope_scaling_config& s) {
  cfg_.rope_scaling = s;
  cfg_.validate();
  for (std::size_t i = 0; i < blocks.size(); ++i) blocks[i].mix->set_rope_scaling(s);
}

std::unique_ptr<lm_state> lm::new_state(std::int64_t B) const {
  LMLAB_CHECK(B >= 1, "lm: new_state needs a batch of at least 1, got {}", B);
  auto s = std::make_unique<model_state>();
  s->batch = B;
  for (std::size_t i = 0; i < blocks.size(); ++i) s->blocks.push_back(blocks[i].new_state(B));
  return s;
}

tensor lm::step(lm_state& st, const tensor& ids) {
  auto& s = static_cast<model_state&>(st);
  LMLAB_CHECK(ids.dim() == 1 && ids.type() == dtype::i32, "lm: step ids must be i32 (B), got {} {}",
              dtype_name(ids.type()), shape_str(ids.shape()));
  LMLAB_CHECK_HINT(!wpe || s.pos < cfg_.n_ctx, "start a new state with a cropped prompt",
                   "lm: step at position {} is past n_ctx = {} (learned positions)", s.pos, cfg_.n_ctx);
  LMLAB_CHECK(ids.size(0) == s.batch, "lm: step ids have batch {}, but the state was made for batch {}", ids.size(0),
              s.batch);
  no_grad ng;
  const std::int64_t B = ids.size(0), C = cfg_.d_model;
  // Hooks see the forward's shapes with T = 1.
  tensor x = reshape(hook_embed(reshape(wte->forward(ids.contiguous_raw()), {B, 1, C})), {B, C});
  if (wpe || cfg_.pos_encoding == "sinusoidal") {
    tensor pos = wpe ? narrow(wpe->weight, 0, s.pos, 1) : sinusoid(s.pos, 1, x.type());
    if (hook_pos_embed.active()) x = add(x, reshape(hook_pos_embed(expand(reshape(pos, {1, 1, C}), {B, 1, C})), {B, C}));
    else x = add(x, reshape(pos, {C}));
  }
  for (std::size_t i = 0; i < blocks.size(); ++i) x = blocks[i].step(x, s.blocks[i]);
  x = static_cast<norm_module&>(*ln_f).forward(x);
  ++s.pos;
  return linear(x, cfg_.tie_embeddings ? wte->weight : lm_head->weight);  // (B,V)
}

std::unique_ptr<causal_lm> make_model(const nlohmann::json& model_config, std::uint64_t seed) {
  return std::make_unique<lm>(lm_config_from_json(model_config, "model"), seed);
}

std::unique_ptr<lm> make_model(const lm_config& c, std::uint64_t seed) { return std::make_unique<lm>(c, seed); }

}  // namespace lmlab::models
