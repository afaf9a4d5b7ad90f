// Tokenizers from GGUF metadata: see gguf_tokenizer.hpp.
#include "data/gguf_tokenizer.hpp"

#include "core/error.hpp"
#include "data/bpe.hpp"
#include "data/spm_bpe.hpp"

namespace lmlab::data {

namespace {
using nn::gguf_type;

bool get_bool(const nn::gguf_file& f, const std::string& key, bool fallback) {
  const nn::gguf_value* v = f.find(key);
  if (!v) return fallback;
  LMLAB_CHECK(v->type == gguf_type::boolean, "{}: metadata key {}: expected a bool, got {}", f.where(), key, nn::gguf_type_name(v->type));
  return v->i != 0;
}

std::vector<std::int32_t> token_types(const nn::gguf_file& f, std::size_t n) {
  if (!f.find("tokenizer.ggml.token_type")) return {};
  const auto& ints = f.get_array("tokenizer.ggml.token_type", gguf_type::i32).ints;
  LMLAB_CHECK(ints.size() == n, "{}: tokenizer.ggml.token_type has {} entries for {} tokens", f.where(), ints.size(), n);
  return {ints.begin(), ints.end()};
}

std::unique_ptr<tokenizer> gpt2_from_gguf(const nn::gguf_file& f, const std::vector<std::string>& tokens) {
  const std::string pre = f.find("tokenizer.ggml.pre") ? f.get_string("tokenizer.ggml.pre") : "default";
  LMLAB_CHECK_HINT(pre == "gpt-2" || pre == "default", "lmlab implements GPT-2's pre-tokeniser regex only",
                   "{}: tokenizer.ggml.pre = \"{}\" is not supported", f.where(), pre);
  const auto types = token_types(f, tokens.size());
  // Ordinary tokens first, then CONTROL/USER_DEFINED specials (byte_bpe keeps them apart).
  std::vector<std::string> bytes;
  std::map<std::string, std::int32_t> special;
  std::unordered_map<std::string, std::int32_t> by_spelling;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const auto t = types.empty() ? 1 : types[i];
    if (t == static_cast<std::int32_t>(spm_token_type::control) || t == static_cast<std::int32_t>(spm_token_type::user_defined)) {
      special[tokens[i]] = static_cast<std::int32_t>(i);
      continue;
    }
    LMLAB_CHECK_HINT(special.empty(), "lmlab's byte-level BPE keeps special tokens after the ordinary ones",
                     "{}: tokenizer.ggml.tokens[{}]: an ordinary token after a special one", f.where(), i);
    bytes.push_back(gpt2_unspell(tokens[i], f.where() + ": tokenizer.ggml.tokens[" + std::to_string(i) + "]"));
    by_spelling[tokens[i]] = static_cast<std::int32_t>(i);
  }
  std::vector<byte_bpe::merge> merges;
  const auto& lines = f.get_array("tokenizer.ggml.merges", gguf_type::string).strs;
  merges.reserve(lines.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    const auto sp = line.find(' ');
    LMLAB_CHECK(sp != std::string::npos && sp > 0 && sp + 1 < line.size(), "{}: tokenizer.ggml.merges[{}] \"{}\" is not \"left right\"",
                f.where(), i, line);
    const std::string l = line.substr(0, sp), r = line.substr(sp + 1);
    auto li = by_spelling.find(l), ri = by_spelling.find(r), mi = by_spelling.find(l + r);
    LMLAB_CHECK(li != by_spelling.end() && ri != by_spelling.end() && mi != by_spelling.end(),
                "{}: tokenizer.ggml.merges[{}] \"{}\": a token of it is not in tokenizer.ggml.tokens", f.where(), i, line);
    merges.push_back({li->second, ri->second, mi->second});
  }
  try {
    return std::make_unique<byte_bpe>(std::move(bytes), std::move(merges), std::move(special));
  } catch (const error& e) {
    throw error(f.where() + ": " + e.what());
  }
}
}  // namespace

std::unique_ptr<tokenizer> tokenizer_from_gguf(const nn::gguf_file& f) {
  LMLAB_CHECK_HINT(f.find("tokenizer.ggml.model"), "the GGUF has no vocabulary; pass a tokenizer another way",
                   "{}: metadata key tokenizer.ggml.model is missing", f.where());
  const std::string model = f.get_string("tokenizer.ggml.model");
  const auto& tokens = f.get_array("tokenizer.ggml.tokens", gguf_type::string).strs;
  if (model == "gpt2") return gpt2_from_gguf(f, tokens);
  LMLAB_CHECK_HINT(model == "llama", "lmlab reads the \"llama\" (SentencePiece BPE) and \"gpt2\" (byte-level BPE) vocabularies",
                   "{}: tokenizer.ggml.model = \"{}\" is not supported", f.where(), model);
  spm_vocab v;
  v.tokens = tokens;
  if (f.find("tokenizer.ggml.scores")) {
    const auto& s = f.get_array("tokenizer.ggml.scores", gguf_type::f32).floats;
    v.scores.assign(s.begin(), s.end());
  }
  v.types = token_types(f, tokens.size());
  v.bos_id = static_cast<std::int32_t>(f.get_int("tokenizer.ggml.bos_token_id", 1));
  v.eos_id = static_cast<std::int32_t>(f.get_int("tokenizer.ggml.eos_token_id", 2));
  v.unk_id = static_cast<std::int32_t>(f.get_int("tokenizer.ggml.unknown_token_id", 0));
  v.add_bos = get_bool(f, "tokenizer.ggml.add_bos_token", true);
  v.add_space_prefix = get_bool(f, "tokenizer.ggml.add_space_prefix", true);
  return std::make_unique<spm_bpe>(std::move(v), f.where());
}

}  // namespace lmlab::data
