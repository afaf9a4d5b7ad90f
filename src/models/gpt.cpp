// GPT forward pass, initialisation and config.json: see gpt.hpp.
#include "models/gpt.hpp"

#include <cmath>
#include <limits>
#include <set>

#include "models/lm_config.hpp"
#include "nn/init.hpp"
#include "ops/ops.hpp"

namespace lmlab::models {

// ---- config -----------------------------------------------------------------------------

void gpt_config::validate(const std::string& prefix) const {
  validate_transformer_fields(prefix, vocab_size, d_model, n_layers, n_heads, n_ctx, d_mlp, dropout, layer_norm_eps,
                              init_std);
}

std::int64_t gpt_config::num_parameters() const {
  const std::int64_t C = d_model, M = mlp_width();
  const std::int64_t block = 2 * 2 * C + 4 * (C * C + C) + (M * C + M) + (C * M + C);
  return vocab_size * C + n_ctx * C + n_layers * block + 2 * C + (tie_embeddings ? 0 : vocab_size * C);
}

nlohmann::ordered_json to_hf_json(const gpt_config& c) {
  nlohmann::ordered_json j;
  j["model_type"] = "lmlab-gpt";
  j["architectures"] = {"LmlabGPT"};
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.d_model;
  j["num_hidden_layers"] = c.n_layers;
  j["num_attention_heads"] = c.n_heads;
  j["max_position_embeddings"] = c.n_ctx;
  j["intermediate_size"] = c.mlp_width();
  j["tie_word_embeddings"] = c.tie_embeddings;
  j["hidden_act"] = "gelu";
  j["layer_norm_eps"] = c.layer_norm_eps;
  j["initializer_range"] = c.init_std;
  j["dropout"] = c.dropout;
  j["torch_dtype"] = "float32";
  return j;
}

gpt_config gpt_config_from_hf_json(const nlohmann::json& j, const std::string& where) {
  LMLAB_CHECK(j.is_object(), "{}: the model config is not a JSON object", where);
  gpt_config c;
  c.d_mlp = -1;
  auto int_of = [&](const std::string& k, std::int64_t& out) {
    LMLAB_CHECK(j[k].is_number_integer(), "{}: {} must be an integer, got {}", where, k, j[k].dump());
    out = j[k].get<std::int64_t>();
  };
  auto num_of = [&](const std::string& k, double& out) {
    LMLAB_CHECK(j[k].is_number(), "{}: {} must be a number, got {}", where, k, j[k].dump());
    out = j[k].get<double>();
  };
  std::set<std::string> required = {"vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                                    "max_position_embeddings"};
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    required.erase(k);
    if (k == "vocab_size") int_of(k, c.vocab_size);
    else if (k == "hidden_size") int_of(k, c.d_model);
    else if (k == "num_hidden_layers") int_of(k, c.n_layers);
    else if (k == "num_attention_heads") int_of(k, c.n_heads);
    else if (k == "max_position_embeddings") int_of(k, c.n_ctx);
    else if (k == "intermediate_size") int_of(k, c.d_mlp);
    else if (k == "tie_word_embeddings") {
      LMLAB_CHECK(it->is_boolean(), "{}: tie_word_embeddings must be true or false, got {}", where, it->dump());
      c.tie_embeddings = it->get<bool>();
    } else if (k == "layer_norm_eps") num_of(k, c.layer_norm_eps);
    else if (k == "initializer_range") num_of(k, c.init_std);
    else if (k == "dropout") num_of(k, c.dropout);
    else if (k == "hidden_act") {
      LMLAB_CHECK(*it == "gelu", "{}: hidden_act '{}' is not supported (lmlab-gpt uses gelu)", where, it->dump());
    } else if (k == "model_type") {
      LMLAB_CHECK(*it == "lmlab-gpt", "{}: model_type {} is not lmlab-gpt", where, it->dump());
    } else if (k == "architectures" || k == "torch_dtype") {
      // informational
    } else {
      throw error(fmt::format("{}: unknown key '{}'", where, k),
                  "known keys: vocab_size, hidden_size, num_hidden_layers, num_attention_heads, "
                  "max_position_embeddings, intermediate_size, tie_word_embeddings, layer_norm_eps, "
                  "initializer_range, dropout");
    }
  }
  LMLAB_CHECK(required.empty(), "{}: missing key '{}'", where, required.empty() ? "" : *required.begin());
  if (c.d_mlp == -1) c.d_mlp = 0;
  if (c.d_mlp == 4 * c.d_model) c.d_mlp = 0;
  try {
    c.validate("");
  } catch (const error& e) {
    throw error(fmt::format("{}: {}", where, e.what()), e.hint());
  }
  return c;
}

// ---- blocks -----------------------------------------------------------------------------

attention_block::attention_block(std::int64_t C, std::int64_t H) : n_heads(H) {
  w_q = register_parameter("w_q", tensor::zeros({C, C}));
  b_q = register_parameter("b_q", tensor::zeros({C}));
  w_k = register_parameter("w_k", tensor::zeros({C, C}));
  b_k = register_parameter("b_k", tensor::zeros({C}));
  w_v = register_parameter("w_v", tensor::zeros({C, C}));
  b_v = register_parameter("b_v", tensor::zeros({C}));
  w_o = register_parameter("w_o", tensor::zeros({C, C}));
  b_o = register_parameter("b_o", tensor::zeros({C}));
  register_hook_point("hook_q", hook_q);
  register_hook_point("hook_k", hook_k);
  register_hook_point("hook_v", hook_v);
  register_hook_point("hook_pattern", hook_pattern);
  register_hook_point("hook_z", hook_z);
}

tensor attention_block::forward(const tensor& x) {
  const std::int64_t B = x.size(0), T = x.size(1), C = x.size(2), H = n_heads, D = C / H;
  // x (B,T,C) -> q,k,v (B,T,H,D) -> (B,H,T,D)
  tensor q = hook_q(reshape(linear(x, w_q, b_q), {B, T, H, D}));
  tensor k = hook_k(reshape(linear(x, w_k, b_k), {B, T, H, D}));
  tensor v = hook_v(reshape(linear(x, w_v, b_v), {B, T, H, D}));
  q = contiguous(transpose(q, 1, 2));
  k = contiguous(transpose(k, 1, 2));
  v = contiguous(transpose(v, 1, 2));
  tensor z;  // (B,H,T,D)
  if (hook_pattern.active()) {
    // Materialised path so a hook can see or replace the pattern:
    // pattern = softmax(q k^T / sqrt(D) + causal mask), z = pattern v.
    tensor mask = tensor::zeros({T, T});
    float* m = mask.data<float>();
    for (std::int64_t i = 0; i < T; ++i)
      for (std::int64_t j = i + 1; j < T; ++j) m[i * T + j] = -std::numeric_limits<float>::infinity();
    if (x.type() != dtype::f32) mask = mask.to_raw(x.type());
    tensor scores = add(mul_scalar(matmul(q, contiguous(transpose(k, 2, 3))), 1.0 / std::sqrt(static_cast<double>(D))), mask);
    tensor pattern = hook_pattern(softmax(scores, -1));  // (B,H,T,T)
    z = matmul(pattern, v);
  } else {
    z = attention(q, k, v);  // fused causal kernel
  }
  z = hook_z(transpose(z, 1, 2));  // (B,T,H,D)
  return linear(reshape(z, {B, T, C}), w_o, b_o);
}

mlp_block::mlp_block(std::int64_t C, std::int64_t M) {
  w_in = register_parameter("w_in", tensor::zeros({M, C}));
  b_in = register_parameter("b_in", tensor::zeros({M}));
  w_out = register_parameter("w_out", tensor::zeros({C, M}));
  b_out = register_parameter("b_out", tensor::zeros({C}));
  register_hook_point("hook_pre", hook_pre);
  register_hook_point("hook_post", hook_post);
}

tensor mlp_block::forward(const tensor& x) {
  tensor pre = hook_pre(linear(x, w_in, b_in));  // (B,T,M)
  tensor post = hook_post(gelu(pre));            // (B,T,M)
  return linear(post, w_out, b_out);             // (B,T,C)
}

transformer_block::transformer_block(const gpt_config& c)
    : ln1(c.d_model, c.layer_norm_eps), attn(c.d_model, c.n_heads), ln2(c.d_model, c.layer_norm_eps),
      mlp(c.d_model, c.mlp_width()) {
  register_module("ln1", ln1);
  register_module("attn", attn);
  register_module("ln2", ln2);
  register_module("mlp", mlp);
  register_hook_point("hook_resid_pre", hook_resid_pre);
  register_hook_point("hook_attn_out", hook_attn_out);
  register_hook_point("hook_resid_mid", hook_resid_mid);
  register_hook_point("hook_mlp_out", hook_mlp_out);
  register_hook_point("hook_resid_post", hook_resid_post);
}

tensor transformer_block::forward(const tensor& x_in, double p, std::uint64_t seed, std::uint64_t site) {
  const bool drop = training() && p > 0;
  tensor x = hook_resid_pre(x_in);
  tensor a = hook_attn_out(attn.forward(ln1.forward(x)));
  if (drop) a = dropout(a, p, true, seed, site << 40);
  x = hook_resid_mid(add(x, a));
  tensor m = hook_mlp_out(mlp.forward(ln2.forward(x)));
  if (drop) m = dropout(m, p, true, seed, (site + 1) << 40);
  return hook_resid_post(add(x, m));
}

// ---- gpt --------------------------------------------------------------------------------

gpt::gpt(const gpt_config& cfg, std::uint64_t seed)
    : wte(cfg.vocab_size, cfg.d_model), wpe(cfg.n_ctx, cfg.d_model), ln_f(cfg.d_model, cfg.layer_norm_eps), cfg_(cfg) {
  cfg_.validate();
  register_module("wte", wte);
  register_module("wpe", wpe);
  for (std::int64_t i = 0; i < cfg.n_layers; ++i) blocks.push_back(std::make_unique<transformer_block>(cfg));
  register_module("blocks", blocks);
  register_module("ln_f", ln_f);
  if (!cfg.tie_embeddings) {
    lm_head = std::make_unique<nn::linear>(cfg.d_model, cfg.vocab_size, false);
    register_module("lm_head", *lm_head);
  }
  register_hook_point("hook_embed", hook_embed);
  register_hook_point("hook_pos_embed", hook_pos_embed);
  finalize_names();
  // GPT-2 initialisation: N(0, init_std) for matrices and embeddings, N(0, init_std/sqrt(2L))
  // for the projections into the residual stream, zero biases, unit LayerNorm gains.
  // ref: Radford et al. 2019, sec. 2.3 (residual-layer scaling by 1/sqrt(N)).
  const double resid_std = cfg.init_std / std::sqrt(2.0 * static_cast<double>(cfg.n_layers));
  for (auto& [name, t] : named_parameters()) {
    if (t.dim() < 2) continue;  // biases stay 0, LayerNorm gains 1 (set by the modules)
    const bool resid = name.ends_with(".w_o") || name.ends_with(".w_out");
    nn::init_normal(t, 0.0, resid ? resid_std : cfg.init_std, seed, nn::stream_of(name));
  }
}

gpt::~gpt() = default;

double gpt::train_flops_per_token(std::int64_t T) const {
  const gpt_config& c = cfg_;
  const double N = static_cast<double>(c.num_parameters() - c.n_ctx * c.d_model -
                                       (c.tie_embeddings ? 0 : c.vocab_size * c.d_model));
  // ref: Chowdhery et al. 2022 (PaLM), appendix B: 6N + 12*L*H*Q*T with H*Q = d_model.
  return 6.0 * N + 12.0 * static_cast<double>(c.n_layers * c.d_model * T);
}

tensor gpt::forward(const tensor& ids_in) {
  LMLAB_CHECK(ids_in.dim() == 2 && ids_in.type() == dtype::i32, "gpt: ids must be i32 (B, T), got {} {}",
              dtype_name(ids_in.type()), shape_str(ids_in.shape()));
  const std::int64_t B = ids_in.size(0), T = ids_in.size(1);
  LMLAB_CHECK_HINT(T <= cfg_.n_ctx, "crop the sequence to the last n_ctx tokens", "gpt: sequence length {} exceeds n_ctx = {}",
                   T, cfg_.n_ctx);
  tensor ids = ids_in.contiguous_raw();
  tensor tok = hook_embed(wte.forward(ids));                              // (B,T,C)
  tensor pos = narrow(wpe.weight, 0, 0, T);                               // (T,C)
  if (hook_pos_embed.active()) pos = hook_pos_embed(expand(pos, {B, T, cfg_.d_model}));
  tensor x = add(tok, pos);
  const bool drop = training() && cfg_.dropout > 0;
  if (drop) x = dropout(x, cfg_.dropout, true, dropout_seed_, 0);
  for (std::size_t i = 0; i < blocks.size(); ++i) x = blocks[i].forward(x, cfg_.dropout, dropout_seed_, 1 + 2 * i);
  x = ln_f.forward(x);
  return linear(x, cfg_.tie_embeddings ? wte.weight : lm_head->weight);  // (B,T,V)
}

tensor gpt::loss(const tensor& batch) {
  LMLAB_CHECK(batch.dim() == 2 && batch.size(1) >= 2, "gpt: a batch must be (B, T+1) with T >= 1, got {}",
              shape_str(batch.shape()));
  const std::int64_t T = batch.size(1) - 1;
  tensor inputs = batch.narrow_raw(1, 0, T).contiguous_raw();
  tensor targets = batch.narrow_raw(1, 1, T).contiguous_raw();
  return loss(inputs, targets);
}

tensor gpt::loss(const tensor& inputs, const tensor& targets) {
  LMLAB_CHECK(targets.shape() == inputs.shape() && targets.type() == dtype::i32,
              "gpt: targets must be i32 of the inputs' shape {}, got {} {}", shape_str(inputs.shape()),
              dtype_name(targets.type()), shape_str(targets.shape()));
  const std::int64_t N = inputs.numel();
  tensor logits = forward(inputs);
  return cross_entropy(reshape(logits, {N, cfg_.vocab_size}), targets.contiguous_raw().view_raw({N}));
}

}  // namespace lmlab::models
