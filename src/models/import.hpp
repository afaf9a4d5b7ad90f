// Real LLaMA-family checkpoints as zoo models (models/lm.hpp with norm "rmsnorm", ffn
// "swiglu", pos_encoding "rope", bias false; Qwen2 sets bias true for its q/k/v biases):
//  - GGUF (llama.cpp): architectures "llama" (also Mistral's GGUFs) and "qwen2";
//  - Hugging Face safetensors + config.json (lm_from_hf_folder below).
// Name mapping (GGUF / Hugging Face / lmlab):
//   token_embd.weight          model.embed_tokens.weight            wte.weight
//   blk.N.attn_norm.weight     model.layers.N.input_layernorm.weight blocks.N.ln1.weight
//   blk.N.attn_{q,k,v}.weight  ...self_attn.{q,k,v}_proj.weight      blocks.N.attn.w_{q,k,v}
//   blk.N.attn_{q,k,v}.bias    ...self_attn.{q,k,v}_proj.bias        blocks.N.attn.b_{q,k,v}
//   blk.N.attn_output.weight   ...self_attn.o_proj.weight            blocks.N.attn.w_o
//   blk.N.ffn_norm.weight      ...post_attention_layernorm.weight    blocks.N.ln2.weight
//   blk.N.ffn_{gate,up,down}   ...mlp.{gate,up,down}_proj.weight     blocks.N.mlp.w_{gate,in,out}
//   output_norm.weight         model.norm.weight                     ln_f.weight
//   output.weight              lm_head.weight (absent: tied)         lm_head.weight
// RoPE layout: llama.cpp's "llama" GGUFs rotate adjacent pairs (x[2i], x[2i+1]) (Meta's
// original layout; llama.cpp's converter undoes Hugging Face's permutation), lmlab's attention
// rotates (x[i], x[i + D/2]) as Hugging Face does. Loading a llama GGUF therefore permutes the
// rows of each head of W_q and W_k (new row i = old row 2i, new row D/2 + i = old row 2i + 1),
// which leaves every attention score unchanged; writing a GGUF applies the inverse, so the
// round trip is exact. qwen2 GGUFs already use the half-split (NeoX) layout.
// Consequence for interpretability: hook_q/hook_k features of a GGUF llama model are in the
// half-split order, not the GGUF file's order.
// Not for: tokenizers (data/gguf_tokenizer.hpp), partial rotary, MoE GGUFs, rope scaling
// types other than linear and yarn (errors say so).
#pragma once

#include <memory>

#include "models/lm.hpp"
#include "nn/gguf.hpp"

namespace lmlab::models {

// The lm_config a GGUF's metadata describes; unsupported architectures or features are
// errors naming the file and the key.
lm_config lm_config_from_gguf(const nn::gguf_file& f);
// Builds the model and copies every tensor (dequantised to f32) into it. A missing tensor, a
// wrong shape, or a tensor the model has no place for is an error naming the tensor.
std::unique_ptr<lm> lm_from_gguf(const nn::gguf_file& f);

// A GGUF of `m` with weights of type `weight_type` (F32, F16, BF16, Q8_0 or Q4_0; norms and
// biases stay F32, as llama.cpp keeps them). `base` supplies the metadata to start from
// (tokenizer keys, general.name, ...) in its order; the architecture keys are (re)set from the
// model's config. Matrices whose rows are not a multiple of the block size stay F32.
nn::gguf_builder gguf_from_lm(const lm& m, nn::ggml_type weight_type,
                              const std::vector<std::pair<std::string, nn::gguf_value>>& base = {});

// Hugging Face folders: config.json (architectures LlamaForCausalLM, MistralForCausalLM or
// Qwen2ForCausalLM; hidden_size, num_*, intermediate_size, rms_norm_eps, rope_theta,
// rope_scaling {linear, dynamic, yarn, llama3}, tie_word_embeddings, attention_bias,
// sliding_window) and model.safetensors or model.safetensors.index.json with its shards;
// weights F32, F16 or BF16, widened to f32. No permutation: HF already uses half-split RoPE.
// Errors name the file, the tensor or key, and (safetensors) the byte offset.
bool is_hf_folder(const std::filesystem::path& dir);
// A JSON file; invalid JSON is an error naming the file.
nlohmann::json read_json_file(const std::filesystem::path& p);
lm_config lm_config_from_hf(const nlohmann::json& config, const std::string& where);
std::unique_ptr<lm> lm_from_hf_folder(const std::filesystem::path& dir);

// Whether `path` names a GGUF file (by its first four bytes).
bool is_gguf_file(const std::filesystem::path& path);

// Permutes the rows (or elements, for a bias) of each head of a q/k projection between the
// interleaved rotary layout and the half-split one. to_half: interleaved -> half-split.
tensor permute_rotary_rows(const tensor& w, std::int64_t n_heads, bool to_half);

}  // namespace lmlab::models
