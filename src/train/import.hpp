// Every model path lmlab's verbs accept, loaded the same way: an lmlab checkpoint folder
// (train/checkpoint.hpp), a GGUF file (models/import.hpp, with the tokenizer of its metadata),
// or a Hugging Face folder (config.json + model.safetensors or a sharded index;
// models/hf_llama.hpp). And the way back: a loaded model written as GGUF.
// A GGUF's metadata rides along in trainer_state.json ("gguf_metadata") when it is converted
// to an lmlab checkpoint, so GGUF -> checkpoint -> GGUF reproduces the file.
// Not for: training state (a GGUF or HF model has no optimizer or data config).
#pragma once

#include <filesystem>
#include <string>

#include "nn/gguf.hpp"
#include "train/checkpoint.hpp"

namespace lmlab::train {

loaded_checkpoint load_model_any(const std::filesystem::path& path);

// Writes a loaded model as an lmlab checkpoint folder (weights, config, trainer_state with any
// carried GGUF metadata, tokenizer).
void save_as_checkpoint(const loaded_checkpoint& ck, const std::filesystem::path& dir);

// "f32", "f16", "bf16", "q8_0", "q4_0" (case-insensitive); a usage error otherwise.
nn::ggml_type parse_weight_type(const std::string& name);

// The GGUF of a loaded model: the metadata it came with (gguf_metadata), or metadata made
// from its config and its spm_bpe tokenizer.
nn::gguf_builder gguf_of(const loaded_checkpoint& ck, nn::ggml_type weight_type);

}  // namespace lmlab::train
