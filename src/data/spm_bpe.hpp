// SentencePiece-style BPE with byte fallback, as LLaMA/Mistral/Phi-3 vocabularies use it
// (GGUF `tokenizer.ggml.model = llama`; the algorithm of llama.cpp's SPM tokenizer and of
// sentencepiece's BPE model): the text gets a dummy-prefix space (add_space_prefix), every
// space becomes U+2581 "▁", the text is split into UTF-8 characters, and adjacent pieces are
// merged while their concatenation is a vocabulary token, highest score first (ties: the
// leftmost pair). A final piece that is not a token is spelled as its bytes, `<0xNN>` tokens
// (byte fallback), or `unk` when the vocabulary has no byte tokens.
// Decoding: NORMAL pieces with "▁" -> " ", BYTE tokens -> the raw byte, CONTROL/UNKNOWN
// tokens -> nothing; as llama2.c's run.c, the leading space of a piece right after BOS is
// dropped (the dummy prefix).
// Not for: sentencepiece's unigram model, special-token parsing inside text (like the other
// tokenizers, encode treats "<s>" as text), reading the vocabulary (data/gguf_tokenizer.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/tokenizer.hpp"

namespace lmlab::data {

// Token types of a GGUF vocabulary (llama.cpp's llama_token_type).
enum class spm_token_type : std::int32_t { undefined = 0, normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6 };

struct spm_vocab {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<std::int32_t> types;  // spm_token_type values
  std::int32_t bos_id = 1, eos_id = 2, unk_id = 0;
  bool add_bos = true;
  bool add_space_prefix = true;
};

class spm_bpe final : public tokenizer {
 public:
  // Errors name `where` and the field (sizes that differ, a special id outside the vocabulary).
  spm_bpe(spm_vocab v, const std::string& where);

  std::vector<std::int32_t> encode(std::string_view text) const override;  // without BOS
  std::string decode(std::span<const std::int32_t> ids) const override;
  std::int32_t vocab_size() const override { return static_cast<std::int32_t>(v_.tokens.size()); }
  std::string kind() const override { return "spm_bpe"; }
  // "bos", "eos", "unk", or a token's text ("<s>").
  std::int32_t special_id(std::string_view name) const override;
  nlohmann::json to_json() const override;
  static spm_bpe from_json(const nlohmann::json& j, const std::string& where);

  bool add_bos() const { return v_.add_bos; }
  std::int32_t bos_id() const { return v_.bos_id; }
  const spm_vocab& vocab() const { return v_; }

 private:
  spm_vocab v_;
  std::unordered_map<std::string, std::int32_t> id_of_;
  std::int32_t byte_id_[256];
};

// The ids to start generation from: BOS first when the tokenizer asks for it (spm_bpe with
// add_bos), then encode(text).
std::vector<std::int32_t> encode_for_generation(const tokenizer& tok, std::string_view text);

}  // namespace lmlab::data
