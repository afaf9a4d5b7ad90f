// The token-mixer interface shared by every sequence mixer of the architecture zoo
// (shared/STYLE.md #8) and the one explicit registry that maps a mixer kind to its factory.
//   A  attention (MHA/GQA/MQA, sliding window, learned/sinusoidal/rope-family/alibi/fire/none)
//   M  Mamba selective SSM block            (Gu & Dao 2023)
//   R  Griffin recurrent block with RG-LRU  (De et al. 2024)
//   W  RWKV-4 time-mix                      (Peng et al. 2023)
//   T  RetNet multi-scale retention         (Sun et al. 2023)
// The feed-forward halves of a block (GELU MLP, SwiGLU, MoE, RWKV channel-mix) implement the
// same interface (state-free except channel-mix's token shift), so a block steps uniformly.
// Each mixer: forward(x) on (B,T,C); step(x_t, state) on (B,C) with an explicit state object;
// state_size(T) in bytes (f32, batch 1) of its inference state at context T;
// flops_per_token(T), forward FLOPs per token (2 per weight plus the sequence-mixing work).
// Not for: the stack (models/lm.hpp), the kernels (ops/).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "models/lm_config.hpp"
#include "nn/module.hpp"
#include "ops/rope.hpp"

namespace lmlab::models {

struct mixer_state {
  virtual ~mixer_state() = default;
  std::int64_t pos = 0;  // tokens consumed
};

class mixer : public nn::module {
 public:
  // x (B, T, C) -> (B, T, C).
  virtual tensor forward(const tensor& x) = 0;
  // A fresh state for B sequences (nullptr for stateless parts such as an MLP).
  virtual std::unique_ptr<mixer_state> new_state(std::int64_t B) const { return nullptr; }
  // x_t (B, C) -> (B, C); advances `state` (may be null for stateless parts). No autograd.
  // Fires the mixer's hook points with the forward's shapes at T = 1 (see models/lm.hpp).
  virtual tensor step(const tensor& x_t, mixer_state* state);
  // Bytes of inference state per sequence at context T (f32).
  virtual std::int64_t state_size(std::int64_t T) const { return 0; }
  // Forward FLOPs per token at context T.
  virtual double flops_per_token(std::int64_t T) const;
  // The registry key ("A", "M", ..., or "mlp", "swiglu", "moe", "channel_mix").
  virtual const char* kind() const = 0;
  // Numbers from the last forward (MoE aux loss, dropped tokens); empty when none.
  virtual nlohmann::json last_metrics() const { return nlohmann::json::object(); }
  // An auxiliary loss from the last forward (scalar tensor) or undefined.
  virtual tensor aux_loss() const { return {}; }
  // Inference-time RoPE rescaling (attention only; others ignore it).
  virtual void set_rope_scaling(const rope_scaling_config&) {}
  // Called once after the model drew every matrix from N(0, init_std) (GPT-2's rule): sets the
  // parameters whose paper prescribes another initialisation (Mamba's A_log, D and dt bias,
  // RWKV's decays and mixes, RG-LRU's Lambda). Draws use Philox streams keyed by the path.
  virtual void init_special(std::uint64_t seed) {}
};

// The module name a mixer kind takes inside a block (blocks.N.<name>): A attn, M ssm,
// R rglru, W time_mix, T retention; ffn: mlp, mlp (swiglu), moe, channel_mix.
const char* mixer_module_name(const std::string& kind);

// The registry: kind -> factory(config, layer index). Unknown kinds are errors listing the known.
using mixer_factory = std::function<std::unique_ptr<mixer>(const lm_config&, std::int64_t layer)>;
const std::map<std::string, mixer_factory>& mixer_registry();
std::unique_ptr<mixer> make_mixer(const std::string& kind, const lm_config& c, std::int64_t layer);

}  // namespace lmlab::models
