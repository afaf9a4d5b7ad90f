// The thin seam between `lmlab serve` and the models: a causal LM is anything that turns a
// token window into next-token logits, and a decoder is one request's running state over it.
// The server, the sampler and the logprob code see only these two interfaces, so a model with
// a KV cache (the general causal LM of models/, in progress) plugs in by implementing
// `decoder` with real incremental steps; nothing else changes.
//
// model_lm wraps any models::causal_lm (what load_checkpoint returns). A model with a step mode
// (the zoo LM, which GGUF and Hugging Face checkpoints load into) is decoded with its own
// KV caches / recurrent states, one step per token (O(T) per token); a model without one
// (or `--recompute`) by recomputing the whole window every token (O(T^2) per token). The model
// is shared by all requests; every forward and step runs under one mutex (models keep hook
// state in their members and are not safe to run concurrently).
// Not for: HTTP, request parsing (protocol.hpp) or sampling policy (generate.hpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.hpp"
#include "data/tokenizer.hpp"

namespace lmlab::models {
class causal_lm;
struct lm_state;
}

namespace lmlab::serve {

// Row-major logits: rows() positions of vocab() floats.
struct logits_rows {
  std::int64_t rows = 0, vocab = 0;
  std::vector<float> data;
  std::span<const float> row(std::int64_t i) const {
    return {data.data() + i * vocab, static_cast<std::size_t>(vocab)};
  }
};

class decoder {
 public:
  virtual ~decoder() = default;
  // Starts from `prompt` (1 <= size <= context()): logits at every prompt position, so row i
  // scores token i+1 (and the last row the first generated token).
  virtual logits_rows prefill(std::span<const std::int32_t> prompt) = 0;
  // Appends one token; the logits for the next position. Past context(), the window slides
  // (the oldest token is dropped, as `lmlab sample` does).
  virtual std::vector<float> step(std::int32_t token) = 0;
};

class causal_lm {
 public:
  virtual ~causal_lm() = default;
  virtual std::int64_t vocab_size() const = 0;  // logits per position
  virtual std::int64_t context() const = 0;     // the longest window the model accepts
  virtual bool has_kv_cache() const = 0;        // how decoders step (reported by /v1/models)
  virtual std::string architecture() const = 0;
  virtual std::unique_ptr<decoder> new_decoder() = 0;
  // Image inputs (a VLM; serve/vlm_adapter.hpp): how many images a request may carry (0: the
  // model reads text only), and a decoder whose prompt follows `images` (each f32 (3, H, W) in
  // [0, 1], as the request sent them).
  virtual int max_images() const { return 0; }
  virtual std::unique_ptr<decoder> new_image_decoder(std::span<const tensor> images) { return new_decoder(); }
  // A model-specific chat template: the prompt text for (role, content) turns, or nullopt for
  // the server's own (generate.hpp render_chat).
  virtual std::optional<std::string> chat_prompt(const std::vector<std::pair<std::string, std::string>>& turns) const {
    return std::nullopt;
  }
};

// step: the model's step mode where it has one; recompute: always the full window (the
// reference the step path is tested against).
enum class decode_mode { step, recompute };

// Any models::causal_lm, decoded by steps where the model supports them, else by recomputing
// the full (cropped) window every token.
class model_lm final : public causal_lm {
 public:
  explicit model_lm(std::unique_ptr<models::causal_lm> model, decode_mode mode = decode_mode::step);
  ~model_lm() override;
  std::int64_t vocab_size() const override;
  std::int64_t context() const override;
  bool has_kv_cache() const override { return step_; }
  std::string architecture() const override;
  std::unique_ptr<decoder> new_decoder() override;
  // Logits at every position of `ids` (size <= context()), under the model mutex.
  logits_rows forward(std::span<const std::int32_t> ids);
  std::int64_t forwards() const;  // forward passes run so far (tests, /v1/models)
  // A fresh batch-1 inference state, and one step of it: id -> logits (V) for the next
  // position (step mode only), under the model mutex.
  std::unique_ptr<models::lm_state> new_state();
  std::vector<float> step(models::lm_state& state, std::int32_t id);
  std::int64_t steps() const;  // single-token steps run so far (tests)

 private:
  std::unique_ptr<models::causal_lm> model_;
  bool step_ = false;
  mutable std::mutex mu_;
  std::int64_t forwards_ = 0, steps_ = 0;
};

// A checkpoint ready to serve: the model and the tokenizer it was trained with.
struct served_model {
  std::string name;                      // what requests must send as "model"
  std::filesystem::path dir;
  std::unique_ptr<causal_lm> lm;
  std::unique_ptr<data::tokenizer> tok;
  std::int64_t num_parameters = 0;
};

// Loads CHECKPOINT (train/checkpoint.hpp); errors name the folder, and a checkpoint without
// tokenizer.json is refused with a hint. `name` empty: the folder's name, or its parent's
// when the folder is called "checkpoint" (runs/gpt-brown/checkpoint -> "gpt-brown").
served_model load_served_model(const std::filesystem::path& dir, const std::string& name = {},
                               decode_mode mode = decode_mode::step);

// Wraps an in-memory model and tokenizer (tests, and callers that already hold them).
served_model make_served_model(std::unique_ptr<models::causal_lm> model, std::unique_ptr<data::tokenizer> tok,
                               std::string name, decode_mode mode = decode_mode::step);

}  // namespace lmlab::serve
