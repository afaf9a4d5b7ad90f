// Checkpoints: one folder that appears atomically (written as a hidden temp folder, then
// swapped in with renameat2(RENAME_EXCHANGE) or renamed), so a reader sees the old complete
// checkpoint or the new complete one, never a mix, and a failure mid-write leaves nothing.
//   config.json          model config, Hugging Face field names (models/lm_config.hpp)
//   model.safetensors    named parameters (wte.weight, blocks.0.attn.w_q, ...)
//   optimizer.safetensors  AdamW moments (exp_avg.<param>, exp_avg_sq.<param>)   [training]
//   trainer_state.json   step, seed, losses so far, and the resolved training config (TOML)
//   tokenizer.json       the tokenizer the model was trained with (when known)
// Random state needs no saving beyond the step: batches and dropout masks are drawn from
// counter-based Philox streams keyed by (seed, step), so `step` is the RNG position.
// Not for: the training loop (trainer.hpp).
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <memory>
#include <optional>

#include "models/lm.hpp"
#include "train/optim.hpp"

namespace lmlab::train {

struct checkpoint_contents {
  const models::causal_lm* model = nullptr;  // a models::lm (or another causal_lm)
  const adamw* optimizer = nullptr;       // may be null (weights only)
  nlohmann::json trainer_state = nlohmann::json::object();
  std::optional<nlohmann::json> tokenizer;
};

void save_checkpoint(const std::filesystem::path& dir, const checkpoint_contents& c);

struct loaded_checkpoint {
  std::filesystem::path dir;
  models::lm_config config;            // old "lmlab-gpt" configs load as the equivalent lm config
  std::unique_ptr<models::lm> model;
  nlohmann::json trainer_state;
  std::optional<nlohmann::json> tokenizer;
};

// Loads config.json, model.safetensors and trainer_state.json; errors name the file and the
// tensor or key (a truncated file, a wrong shape or dtype, a missing tensor).
loaded_checkpoint load_checkpoint(const std::filesystem::path& dir);
// Copies dir/model.safetensors into `model` (the one an optimizer already holds), matching
// parameters by name with shape and dtype checks, never by position: a missing, renamed,
// reshaped or extra tensor is an error naming it and the file.
void load_weights(const std::filesystem::path& dir, const models::causal_lm& model);
// Restores AdamW state from dir/optimizer.safetensors at `step`.
void load_optimizer_state(const std::filesystem::path& dir, adamw& opt, std::int64_t step);

// Tests only: make the next save_checkpoint fail (throw) after writing `files` files.
void inject_checkpoint_failure_after(int files);

}  // namespace lmlab::train
