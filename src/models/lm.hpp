// The causal language model of lmlab (GPT is its default pattern): token embeddings (plus a
// learned or sinusoidal absolute position table when pos_encoding says so), a stack of
// pre-norm blocks x += mixer(norm1(x)); x += ffn(norm2(x)) where the mixer of each block comes
// from the pattern string (A attention, M Mamba, R Griffin RG-LRU, W RWKV-4 time-mix,
// T RetNet retention) and the ffn is a GELU MLP, SwiGLU, MoE, or RWKV channel-mix under W;
// optional Mixture-of-Depths routing around chosen blocks; a final norm; a tied or untied head.
// Keys and defaults: models/lm_config.hpp. The default config (pattern "A", learned positions,
// GELU MLP, layernorm) is GPT-2, checked against PyTorch by the golden tests
// (tests/golden/test_gpt_golden.cpp, fixtures from scripts/ref/gpt_fixtures.py).
//
// Parameter paths: wte.weight, wpe.weight (learned only), blocks.N.ln1.*, blocks.N.<mixer>.*,
//   blocks.N.ln2.*, blocks.N.<ffn>.*, blocks.N.mod_router.weight (MoD), ln_f.*, lm_head.weight.
//   <mixer> = attn | ssm | rglru | time_mix | retention;  <ffn> = mlp | moe | channel_mix.
// Hook points: hook_embed, hook_pos_embed, blocks.N.hook_resid_pre/mid/post,
//   blocks.N.hook_attn_out (the mixer's output, whatever the mixer), blocks.N.hook_mlp_out,
//   blocks.N.attn.hook_q/k/v/pattern/z, blocks.N.ssm.hook_dt/hook_state,
//   blocks.N.rglru.hook_gate_r/hook_gate_i/hook_h, blocks.N.time_mix.hook_wkv,
//   blocks.N.retention.hook_out, blocks.N.mlp.hook_pre/post, blocks.N.moe.hook_router_probs,
//   blocks.N.hook_mod_weights.
// Hooks fire in step mode too, with the time axis of length 1: (B, 1, C) for the embedding and
// residual hooks, (B, 1, H, D) for q/k/v/z, (B, H, 1, S) for the pattern over the S cached keys,
// (B, Di, N) for the SSM state after the token, (N = B, E) for MoE router probabilities. Inside
// a MoD-routed block they fire once per processed sequence with batch 1 ((1, 1, C), and
// hook_mod_weights (1, 1)), and not at all for a sequence whose token skips the block.
// Mixture-of-Depths sampling, ref: Raposo et al. 2024 sec. 3.5 (the first of its two methods):
// in training each routed block adds mod_aux_loss_coef * BCE(router logits r, 1[token in the
// top-k]) to the loss, so r > 0 learns to predict the non-causal top-k from the token alone;
// step mode sends a token through the block iff r > 0 (x += r * (block(x) - x), as the forward).
// Not for: training (train/), importing other formats (models/*import*, nn/gguf*).
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <vector>

#include "models/causal_lm.hpp"
#include "models/lm_config.hpp"
#include "models/mixer.hpp"
#include "ops/routing.hpp"

namespace lmlab::models {

class lm_block;

class lm : public causal_lm {
 public:
  explicit lm(const lm_config& cfg, std::uint64_t seed = 0);
  ~lm() override;

  tensor forward(const tensor& ids) override;
  // forward(ids) = forward_embeddings(embed(ids)), split so that a caller can feed inputs that
  // are not tokens (the VLM lab's image prefix, src/vlm/): embed is the token table
  // (hook_embed fires), forward_embeddings x (B, T, C) -> logits (B, T, V) adds positions and
  // runs the blocks, the final norm and the head.
  tensor embed(const tensor& ids);
  tensor forward_embeddings(const tensor& x);
  using causal_lm::loss;
  tensor loss(const tensor& inputs, const tensor& targets) override;
  nlohmann::ordered_json config_json() const override { return to_hf_json(cfg_); }
  std::int64_t vocab_size() const override { return cfg_.vocab_size; }
  std::int64_t n_ctx() const override { return cfg_.n_ctx; }
  double train_flops_per_token(std::int64_t T) const override;
  // Forward FLOPs per token at context T (3x this is the training figure).
  double flops_per_token(std::int64_t T) const;
  void set_dropout_seed(std::uint64_t s) override { dropout_seed_ = s; }
  nlohmann::json last_metrics() const override;

  // Step mode exists for every config; MoD blocks route by the causal decision r > 0 (see the
  // header), so step equals the forward where that decision agrees with the top-k.
  bool supports_step() const override { return true; }
  std::unique_ptr<lm_state> new_state(std::int64_t B) const override;
  tensor step(lm_state& state, const tensor& ids) override;

  // Bytes of inference state per sequence at context T (KV caches + recurrent states, f32).
  std::int64_t state_size(std::int64_t T) const;
  // Changes RoPE scaling of every attention layer at evaluation time (no retraining).
  void set_rope_scaling(const rope_scaling_config& s);

  const lm_config& config() const { return cfg_; }

  std::unique_ptr<nn::embedding> wte, wpe;
  nn::module_list<lm_block> blocks;
  std::unique_ptr<nn::module> ln_f;  // nn::layer_norm or rms_norm_module
  std::unique_ptr<nn::linear> lm_head;
  nn::hook_point hook_embed, hook_pos_embed;  // (B, T, C)

 private:
  lm_config cfg_;
  std::uint64_t dropout_seed_ = 0;
  // Rows [from, from + n) of the sinusoid table as added to the embeddings (lm.cpp: times init_std).
  tensor sinusoid(std::int64_t from, std::int64_t n, dtype t) const;
};

// A norm chosen by config: PyTorch LayerNorm (weight, bias) or RMSNorm (weight).
class norm_module : public nn::module {
 public:
  norm_module(const std::string& kind, std::int64_t dim, double eps);
  tensor forward(const tensor& x) const;
  tensor weight, bias;
  bool rms;
  double eps;
};

// Mixer states of one block in step mode: one entry of batch B for a plain block; B entries of
// batch 1 for a MoD-routed block (each sequence advances its states only on the tokens it
// sends through the block, so a KV cache holds exactly the processed tokens).
struct block_state {
  std::vector<std::unique_ptr<mixer_state>> mix, ffn;
};

class lm_block : public nn::module {
 public:
  lm_block(const lm_config& c, std::int64_t layer);
  // x (B, T, C) -> (B, T, C).
  tensor forward(const tensor& x, double p, std::uint64_t seed, std::uint64_t site);
  // The residual update without MoD: x + mixer + ffn (dropout as in GPT).
  tensor inner(const tensor& x, double p, std::uint64_t seed, std::uint64_t site);
  // Step mode (no autograd, no dropout): x (B, C) -> (B, C), advancing `s`.
  block_state new_state(std::int64_t B) const;
  tensor step(const tensor& x, block_state& s);
  // The residual update of inner() for one token per row: x (n, C) with states of batch n.
  tensor inner_step(const tensor& x, mixer_state* mix_state, mixer_state* ffn_state);
  std::int64_t layer;
  norm_module ln1, ln2;
  std::unique_ptr<mixer> mix, ffn;
  std::unique_ptr<nn::linear> mod_router;  // (1, C) when MoD routes this block
  double mod_capacity = 0;
  std::int64_t mod_kept = 0, mod_total = 0;  // tokens processed / seen in the last forward
  std::int64_t mod_agree = 0;                 // tokens where (r > 0) == (in the top-k), last forward
  tensor mod_aux;                             // the sampling predictor's BCE (training forwards only)
  nn::hook_point hook_resid_pre, hook_resid_mid, hook_resid_post;  // (B, T, C)
  nn::hook_point hook_attn_out, hook_mlp_out;                      // (B, T, C)
  nn::hook_point hook_mod_weights;  // (B, k) router weights of kept tokens; step mode: (1, 1) per processed row
};

// The MoD sampling loss, ref: Raposo et al. 2024 sec. 3.5: binary cross-entropy with the router
// outputs as logits and targets 1 for the tokens `r` kept (the top-k), 0 for the rest; mean
// over the B*T tokens. router (B, T) -> scalar, differentiable in `router`.
tensor mod_predictor_loss(const tensor& router, const mod_routing& r);

// Builds a model from a lab/JSON model object (keys in models/lm_config.hpp), initialised
// from `seed`. `model_config` must include vocab_size > 0.
std::unique_ptr<causal_lm> make_model(const nlohmann::json& model_config, std::uint64_t seed = 0);
std::unique_ptr<lm> make_model(const lm_config& c, std::uint64_t seed = 0);

}  // namespace lmlab::models
