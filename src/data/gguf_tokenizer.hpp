// The tokenizer embedded in a GGUF file's metadata (tokenizer.ggml.*):
//   model "llama" -> spm_bpe (SentencePiece-style BPE with byte fallback: tokens, scores,
//                    token_type, bos/eos/unk ids, add_bos_token, add_space_prefix);
//   model "gpt2"  -> byte_bpe (GPT-2 byte-level BPE: tokens spelled with GPT-2's byte map,
//                    merges "left right", CONTROL tokens as specials after the ordinary ids;
//                    pre-tokeniser "gpt-2" or "default", GPT-2's split regex).
// And from a Hugging Face tokenizer.json (model.type "BPE"): pre_tokenizer ByteLevel ->
// byte_bpe (GPT-2's regex); a "▁" normaliser (Replace) and no pre-tokeniser (Llama 2,
// Mistral, Phi-3) -> spm_bpe, with score = -(rank of the best merge producing the token) and BOS from the
// post-processor's template.
// Other models or pre-tokenisers are errors that name the key and what is supported.
// Not for: the algorithms (data/spm_bpe.hpp, data/bpe.hpp), model weights (models/import.hpp).
#pragma once

#include <memory>

#include "data/tokenizer.hpp"
#include "nn/gguf.hpp"

namespace lmlab::data {

std::unique_ptr<tokenizer> tokenizer_from_gguf(const nn::gguf_file& f);
// `where` names the file in errors.
std::unique_ptr<tokenizer> tokenizer_from_hf_json(const nlohmann::json& j, const std::string& where);

}  // namespace lmlab::data
