// GPT (Radford et al. 2019, GPT-2): token + learned position embeddings, pre-LayerNorm blocks
// of causal multi-head attention and a GELU MLP, a final LayerNorm and a tied or untied head.
// Attention runs through the fused kernel (ops/attention.hpp) unless a hook watches
// `hook_pattern`, in which case the pattern is materialised so it can be cached or replaced.
//
// Parameter paths (PyTorch-style; checkpoints, fixtures and the optimizer use them):
//   wte.weight (V, C)   wpe.weight (n_ctx, C)
//   blocks.N.ln1.{weight,bias} (C)   blocks.N.attn.{w_q,w_k,w_v,w_o} (C, C)  {b_q,...} (C)
//   blocks.N.ln2.{weight,bias} (C)   blocks.N.mlp.w_in (M, C) b_in (M) w_out (C, M) b_out (C)
//   ln_f.{weight,bias} (C)           lm_head.weight (V, C) when untied
// Hook points (TransformerLens names; shapes in comments in gpt.cpp):
//   hook_embed, hook_pos_embed, blocks.N.hook_resid_pre/mid/post, blocks.N.hook_attn_out,
//   blocks.N.hook_mlp_out, blocks.N.attn.hook_q/k/v/pattern/z, blocks.N.mlp.hook_pre/post
// The zoo model (models/lm.hpp) reproduces this GPT exactly with its default config.
// Not for: other mixers or positional encodings (models/lm.hpp), training loops (train/).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>

#include "models/causal_lm.hpp"
#include "nn/module.hpp"

namespace lmlab::models {

struct gpt_config {
  std::int64_t vocab_size = 0;
  std::int64_t d_model = 128;
  std::int64_t n_layers = 4;
  std::int64_t n_heads = 4;
  std::int64_t n_ctx = 128;
  std::int64_t d_mlp = 0;         // 0 -> 4 * d_model
  bool tie_embeddings = true;
  double dropout = 0.0;           // on embeddings and both residual branches
  double layer_norm_eps = 1e-5;
  double init_std = 0.02;         // GPT-2's initializer_range

  std::int64_t d_head() const { return d_model / n_heads; }
  std::int64_t mlp_width() const { return d_mlp > 0 ? d_mlp : 4 * d_model; }
  // Errors name the key as `prefix + name` (e.g. "model.d_model").
  void validate(const std::string& prefix = "model.") const;
  // Every parameter (PyTorch's sum(p.numel()); a tied head counts once).
  std::int64_t num_parameters() const;
};

// Hugging Face-style config.json: vocab_size, hidden_size, num_hidden_layers,
// num_attention_heads, max_position_embeddings, intermediate_size, tie_word_embeddings,
// layer_norm_eps, initializer_range, dropout, plus model_type "lmlab-gpt".
nlohmann::ordered_json to_hf_json(const gpt_config& c);
// Unknown keys, wrong types and impossible values are errors naming `where` and the key.
gpt_config gpt_config_from_hf_json(const nlohmann::json& j, const std::string& where);

class attention_block;
class mlp_block;
class transformer_block;

class gpt : public causal_lm {
 public:
  // Initialises (GPT-2 rule, Philox streams per parameter path) from `seed`.
  explicit gpt(const gpt_config& cfg, std::uint64_t seed = 0);
  ~gpt() override;

  // ids i32 (B, T) with T <= n_ctx -> logits (B, T, V).
  tensor forward(const tensor& ids) override;
  // batch i32 (B, T+1): inputs batch[:, :T], targets batch[:, 1:] -> mean cross-entropy.
  tensor loss(const tensor& batch) override;
  // inputs, targets i32 (B, T) -> mean cross-entropy over all B*T targets.
  tensor loss(const tensor& inputs, const tensor& targets) override;
  // causal_lm (models/causal_lm.hpp).
  nlohmann::ordered_json config_json() const override { return to_hf_json(cfg_); }
  std::int64_t vocab_size() const override { return cfg_.vocab_size; }
  std::int64_t n_ctx() const override { return cfg_.n_ctx; }
  double train_flops_per_token(std::int64_t T) const override;

  // Dropout masks are a pure function of this seed and the site; the trainer sets a new
  // seed per step (so a resumed run draws the same masks).
  void set_dropout_seed(std::uint64_t s) override { dropout_seed_ = s; }
  const gpt_config& config() const { return cfg_; }

  nn::embedding wte, wpe;
  nn::module_list<transformer_block> blocks;
  nn::layer_norm ln_f;
  std::unique_ptr<nn::linear> lm_head;  // only when untied
  nn::hook_point hook_embed;            // (B, T, C) token embeddings
  nn::hook_point hook_pos_embed;        // (B, T, C) position embeddings (broadcast over B)

 private:
  gpt_config cfg_;
  std::uint64_t dropout_seed_ = 0;
};

// Small building blocks, public so hooks and tests can reach their parameters.
class attention_block : public nn::module {
 public:
  attention_block(std::int64_t d_model, std::int64_t n_heads);
  // x (B, T, C) -> (B, T, C)
  tensor forward(const tensor& x);
  tensor w_q, b_q, w_k, b_k, w_v, b_v, w_o, b_o;
  nn::hook_point hook_q, hook_k, hook_v;  // (B, T, H, D)
  nn::hook_point hook_pattern;            // (B, H, Tq, Tk)
  nn::hook_point hook_z;                  // (B, T, H, D) per-head outputs before w_o
  std::int64_t n_heads;
};

class mlp_block : public nn::module {
 public:
  mlp_block(std::int64_t d_model, std::int64_t d_mlp);
  tensor forward(const tensor& x);  // (B, T, C) -> (B, T, C)
  tensor w_in, b_in, w_out, b_out;
  nn::hook_point hook_pre;   // (B, T, M) before GELU
  nn::hook_point hook_post;  // (B, T, M) after GELU
};

class transformer_block : public nn::module {
 public:
  transformer_block(const gpt_config& cfg);
  // x (B, T, C) -> (B, T, C); dropout (p, seed, site offsets) applied to both branches.
  tensor forward(const tensor& x, double p, std::uint64_t seed, std::uint64_t site);
  nn::layer_norm ln1;
  attention_block attn;
  nn::layer_norm ln2;
  mlp_block mlp;
  nn::hook_point hook_resid_pre, hook_resid_mid, hook_resid_post;  // (B, T, C)
  nn::hook_point hook_attn_out, hook_mlp_out;                      // (B, T, C)
};

}  // namespace lmlab::models
