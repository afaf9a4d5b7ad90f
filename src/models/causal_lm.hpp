// The interface of a language model (models/lm.hpp is the one lmlab trains), so that
// training, checkpoints, evaluation, sampling, serving and the lab runner do not depend on
// how a model is built:
//   forward(ids) -> logits, loss(inputs, targets), config_json() (the checkpoint's
//   config.json, Hugging Face names where they exist), named parameters (nn::module).
// Incremental inference is optional: a model that supports it returns a state object from
// new_state(B) and advances it one token at a time with step().
// Not for: the models themselves, training loops (train/).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>

#include "nn/module.hpp"

namespace lmlab::models {

// Inference state of a whole model (per-layer KV caches, recurrent states); opaque here.
struct lm_state {
  virtual ~lm_state() = default;
  std::int64_t pos = 0;  // tokens consumed so far
};

class causal_lm : public nn::module {
 public:
  // ids i32 (B, T) -> logits (B, T, V).
  virtual tensor forward(const tensor& ids) = 0;
  // inputs, targets i32 (B, T) -> mean cross-entropy over all B*T targets (plus, in training
  // mode, any auxiliary losses the model defines, e.g. MoE load balancing).
  virtual tensor loss(const tensor& inputs, const tensor& targets);
  // batch i32 (B, T+1): inputs batch[:, :T], targets batch[:, 1:].
  virtual tensor loss(const tensor& batch);

  // The checkpoint's config.json (model_type names the model family).
  virtual nlohmann::ordered_json config_json() const = 0;
  virtual std::int64_t vocab_size() const = 0;
  // The longest context the model is built for (the learned position table, or the training
  // context of models without one; sampling crops to it when the model has no step mode).
  virtual std::int64_t n_ctx() const = 0;
  // Training FLOPs per token at context T (PaLM's 6N + attention term, generalised per mixer).
  virtual double train_flops_per_token(std::int64_t T) const = 0;
  // Dropout masks are a pure function of this seed and the site.
  virtual void set_dropout_seed(std::uint64_t s) = 0;
  // Numbers from the last forward worth logging (aux loss, dropped tokens, ...); {} if none.
  virtual nlohmann::json last_metrics() const { return nlohmann::json::object(); }

  // Incremental inference: false when the model has no step mode (then callers rerun forward).
  virtual bool supports_step() const { return false; }
  virtual std::unique_ptr<lm_state> new_state(std::int64_t B) const;
  // ids i32 (B) -> logits (B, V) for the next position; the state advances by one token.
  virtual tensor step(lm_state& state, const tensor& ids);
};

}  // namespace lmlab::models
