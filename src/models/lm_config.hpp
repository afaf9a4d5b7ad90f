// The config of the zoo language model (models/lm.hpp): every key once, in one field table
// that drives JSON parsing (the lab runner's model objects), the TOML [model] table of
// `lmlab train` (train/config.cpp), and the checkpoint's config.json (Hugging Face names where
// a counterpart exists: hidden_size, num_hidden_layers, num_attention_heads,
// num_key_value_heads, max_position_embeddings, intermediate_size, rope_theta, rope_scaling,
// sliding_window, num_experts, num_experts_per_tok).
//
// Keys (JSON / TOML [model]; defaults make a GPT-2-style model):
//   vocab_size      int     0 = the tokenizer's (must be set before building)
//   d_model         int 128 residual width          n_layers int 4   blocks
//   n_heads         int 4   attention/retention heads (divide d_model)
//   n_kv_heads      int 0   key/value heads for GQA/MQA; 0 = n_heads
//   n_ctx           int 128 context length (the learned position table; RoPE's trained length)
//   d_mlp           int 0   FFN width; 0 = 4*d_model (gelu, moe experts) or 8/3*d_model rounded
//                           up to a multiple of 8 (swiglu)
//   tie_embeddings  bool true   dropout number 0   layer_norm_eps number 1e-5   init_std 0.02
//   bias            bool true   biases in attention projections and MLPs
//   pattern         str  "A"    one letter per block from {A, M, R, W, T}; repeated when
//                               n_layers is a multiple of its length ("MMMAMMMM", "RRA")
//   norm            str  "layernorm" | "rmsnorm"
//   ffn             str  "gelu" | "swiglu" | "moe" (W blocks always use RWKV channel-mix)
//   pos_encoding    str  "learned" | "sinusoidal" | "rope" | "pi" | "ntk" | "dynamic-ntk" |
//                        "yarn" | "llama3" | "alibi" | "fire" | "none"
//                        (pi/ntk/dynamic-ntk/yarn/llama3 = rope with that rope_scaling.type)
//   rope_theta      number 10000
//   rope_scaling    object {type: "none"|"linear"|"ntk"|"dynamic"|"yarn"|"llama3",
//                   factor 1, original_max_position_embeddings 0 (= n_ctx), beta_fast 32,
//                   beta_slow 1, low_freq_factor 1, high_freq_factor 4}
//   window          int 0   sliding-window attention span; 0 = full causal
//   attn_conv       int 0   kernel of a short causal depthwise conv on the attention input
//                           (before q, k, v; initialised to the identity); 0 = off
//   n_experts int 8, top_k int 2, capacity_factor number 0 (0 = unlimited),
//   aux_loss_coef number 0.01                      (ffn = "moe"; Switch load-balancing loss)
//   mod_capacity    number 0   Mixture-of-Depths: fraction of tokens a routed block processes
//                              (0 = off)
//   mod_every       int 2      route every mod_every-th block (blocks mod_every-1, 2*mod_every-1, ...)
//   mod_aux_loss_coef number 0.01  weight of MoD's sampling-predictor BCE per routed block (trains
//                              r > 0 to predict the top-k, the decision step mode uses); 0 = off
//   d_state int 16, d_conv int 4, expand int 2, dt_rank int 0 (= ceil(d_model/16))   (Mamba)
//   lru_width       int 0   Griffin recurrent width; 0 = d_model (R blocks use d_conv too)
// Not for: training keys (train/config.hpp), building the model (models/lm.hpp).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "ops/rope.hpp"

namespace lmlab::models {

struct rope_scaling_config {
  std::string type = "none";  // none | linear | ntk | dynamic | yarn | llama3
  double factor = 1.0;
  std::int64_t original_max_position_embeddings = 0;  // 0 = n_ctx
  double beta_fast = 32.0, beta_slow = 1.0;
  double low_freq_factor = 1.0, high_freq_factor = 4.0;
};

struct lm_config {
  std::int64_t vocab_size = 0;
  std::int64_t d_model = 128;
  std::int64_t n_layers = 4;
  std::int64_t n_heads = 4;
  std::int64_t n_kv_heads = 0;
  std::int64_t n_ctx = 128;
  std::int64_t d_mlp = 0;
  bool tie_embeddings = true;
  double dropout = 0.0;
  double layer_norm_eps = 1e-5;
  double init_std = 0.02;
  bool bias = true;
  std::string pattern = "A";
  std::string norm = "layernorm";
  std::string ffn = "gelu";
  std::string pos_encoding = "learned";
  double rope_theta = 10000.0;
  rope_scaling_config rope_scaling;
  std::int64_t window = 0;
  std::int64_t attn_conv = 0;
  std::int64_t n_experts = 8;
  std::int64_t top_k = 2;
  double capacity_factor = 0.0;
  double aux_loss_coef = 0.01;
  double mod_capacity = 0.0;
  std::int64_t mod_every = 2;
  double mod_aux_loss_coef = 0.01;
  std::int64_t d_state = 16;
  std::int64_t d_conv = 4;
  std::int64_t expand = 2;
  std::int64_t dt_rank = 0;
  std::int64_t lru_width = 0;

  std::int64_t d_head() const { return d_model / n_heads; }
  std::int64_t kv_heads() const { return n_kv_heads > 0 ? n_kv_heads : n_heads; }
  std::int64_t mlp_width() const;
  std::int64_t mamba_inner() const { return expand * d_model; }
  std::int64_t mamba_dt_rank() const { return dt_rank > 0 ? dt_rank : (d_model + 15) / 16; }
  std::int64_t lru_dim() const { return lru_width > 0 ? lru_width : d_model; }
  // The mixer letter of block i (pattern repeated).
  char mixer_of(std::int64_t layer) const;
  bool mod_on(std::int64_t layer) const { return mod_capacity > 0 && layer % mod_every == mod_every - 1; }
  // True when some block is attention with a rope-family encoding.
  bool uses_rope() const;
  // The rope configuration of attention layers (type from pos_encoding/rope_scaling).
  rope_config rope() const;
  // Errors name the key as `prefix + name` (e.g. "model.d_model") and hint at a fix.
  void validate(const std::string& prefix = "model.") const;
};

// The transformer-shaped checks of lm_config::validate:
// positive sizes, n_heads dividing d_model, dropout in [0, 1); errors name prefix + key.
void validate_transformer_fields(const std::string& prefix, std::int64_t vocab_size, std::int64_t d_model,
                                 std::int64_t n_layers, std::int64_t n_heads, std::int64_t n_ctx, std::int64_t d_mlp,
                                 double dropout, double layer_norm_eps, double init_std);

// The field table (for train/config.cpp and describe_keys): key, kind, doc, member access.
// Nested rope_scaling keys appear as "rope_scaling.type", "rope_scaling.factor", ...
enum class field_kind { integer, number, boolean, string };
// "an integer", "a number", "true or false", "a string": what a value of the kind must be.
const char* field_kind_name(field_kind k);
struct model_field {
  const char* key;
  field_kind kind;
  const char* doc;
  void* (*ref)(lm_config&);
};
const std::vector<model_field>& model_fields();

// From a JSON object with the keys above (rope_scaling as a nested object). Unknown keys,
// wrong types and impossible values are errors naming `where` and the key.
lm_config lm_config_from_json(const nlohmann::json& j, const std::string& where = "model");
// Every key, as lm_config_from_json reads them.
nlohmann::ordered_json to_json(const lm_config& c);

// config.json of a checkpoint: model_type "lmlab-lm", Hugging Face names where they exist
// (see the header comment) and lmlab's names for the rest (layer_pattern, pos_encoding, ...).
nlohmann::ordered_json to_hf_json(const lm_config& c);
// Reads "lmlab-lm" configs and, for checkpoints of the retired fixed-GPT class, "lmlab-gpt"
// ones (the same parameter names; only the config keys are mapped).
lm_config lm_config_from_hf_json(const nlohmann::json& j, const std::string& where);

}  // namespace lmlab::models
