// Tokenizers from GGUF metadata: see gguf_tokenizer.hpp.
#include "data/gguf_tokenizer.hpp"

#include <algorithm>

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

// Byte-level BPE from GPT-2-spelled tokens (id order), a special flag per id (CONTROL or
// USER_DEFINED tokens, kept after the ordinary ones) and merges "left right" in rank order.
std::unique_ptr<tokenizer> byte_bpe_from_spelled(const std::vector<std::string>& tokens, const std::vector<char>& is_special,
                                                 const std::vector<std::pair<std::string, std::string>>& merge_pairs,
                                                 const std::string& where, const std::string& tokens_field,
                                                 const std::string& merges_field) {
  std::vector<std::string> bytes;
  std::map<std::string, std::int32_t> special;
  std::unordered_map<std::string, std::int32_t> by_spelling;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (is_special[i]) {
      special[tokens[i]] = static_cast<std::int32_t>(i);
      continue;
    }
    LMLAB_CHECK_HINT(special.empty(), "lmlab's byte-level BPE keeps special tokens after the ordinary ones",
                     "{}: {}[{}]: an ordinary token after a special one", where, tokens_field, i);
    bytes.push_back(gpt2_unspell(tokens[i], where + ": " + tokens_field + "[" + std::to_string(i) + "]"));
    by_spelling[tokens[i]] = static_cast<std::int32_t>(i);
  }
  std::vector<byte_bpe::merge> merges;
  merges.reserve(merge_pairs.size());
  for (std::size_t i = 0; i < merge_pairs.size(); ++i) {
    const auto& [l, r] = merge_pairs[i];
    auto li = by_spelling.find(l), ri = by_spelling.find(r), mi = by_spelling.find(l + r);
    LMLAB_CHECK(li != by_spelling.end() && ri != by_spelling.end() && mi != by_spelling.end(),
                "{}: {}[{}] \"{} {}\": a token of it is not in {}", where, merges_field, i, l, r, tokens_field);
    merges.push_back({li->second, ri->second, mi->second});
  }
  try {
    return std::make_unique<byte_bpe>(std::move(bytes), std::move(merges), std::move(special));
  } catch (const error& e) {
    throw error(where + ": " + e.what());
  }
}

std::pair<std::string, std::string> split_merge(const std::string& line, const std::string& where, const std::string& field,
                                                std::size_t i) {
  const auto sp = line.find(' ');
  LMLAB_CHECK(sp != std::string::npos && sp > 0 && sp + 1 < line.size(), "{}: {}[{}] \"{}\" is not \"left right\"", where, field, i,
              line);
  return {line.substr(0, sp), line.substr(sp + 1)};
}

std::unique_ptr<tokenizer> gpt2_from_gguf(const nn::gguf_file& f, const std::vector<std::string>& tokens) {
  const std::string pre = f.find("tokenizer.ggml.pre") ? f.get_string("tokenizer.ggml.pre") : "default";
  LMLAB_CHECK_HINT(pre == "gpt-2" || pre == "default", "lmlab implements GPT-2's pre-tokeniser regex only",
                   "{}: tokenizer.ggml.pre = \"{}\" is not supported", f.where(), pre);
  const auto types = token_types(f, tokens.size());
  std::vector<char> is_special(tokens.size(), 0);
  for (std::size_t i = 0; i < types.size(); ++i)
    is_special[i] = types[i] == static_cast<std::int32_t>(spm_token_type::control) ||
                    types[i] == static_cast<std::int32_t>(spm_token_type::user_defined);
  const auto& lines = f.get_array("tokenizer.ggml.merges", gguf_type::string).strs;
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(lines.size());
  for (std::size_t i = 0; i < lines.size(); ++i) merges.push_back(split_merge(lines[i], f.where(), "tokenizer.ggml.merges", i));
  return byte_bpe_from_spelled(tokens, is_special, merges, f.where(), "tokenizer.ggml.tokens", "tokenizer.ggml.merges");
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

namespace {
// The pre-tokeniser / normaliser objects of a tokenizer.json, flattened out of "Sequence"s.
std::vector<nlohmann::json> parts_of(const nlohmann::json& j, const char* key) {
  std::vector<nlohmann::json> out;
  if (!j.contains(key) || j[key].is_null()) return out;
  const auto& x = j[key];
  if (x.value("type", std::string()) == "Sequence") {
    for (const auto& e : x.value(key == std::string("normalizer") ? "normalizers" : "pretokenizers", nlohmann::json::array()))
      out.push_back(e);
  } else {
    out.push_back(x);
  }
  return out;
}
}  // namespace

namespace {

// Tokens by id: model.vocab plus added_tokens (is_special: 1 for special added tokens), ids
// 0..n-1 without gaps.
void read_hf_tokens(const nlohmann::json& j, const std::string& where, std::vector<std::string>& tokens,
                    std::vector<char>& is_special) {
  const auto put = [&](const std::string& text, std::int64_t id, bool special, const std::string& field) {
    LMLAB_CHECK(id >= 0 && id < (1 << 24), "{}: {} \"{}\": id {} is out of range", where, field, text, id);
    if (static_cast<std::size_t>(id) >= tokens.size()) {
      tokens.resize(static_cast<std::size_t>(id) + 1);
      is_special.resize(static_cast<std::size_t>(id) + 1, 2);  // 2: not yet seen
    }
    const auto k = static_cast<std::size_t>(id);
    if (is_special[k] != 2 && tokens[k] == text) {  // an added token that repeats a vocab entry
      is_special[k] = static_cast<char>(is_special[k] | special);
      return;
    }
    LMLAB_CHECK(is_special[k] == 2, "{}: {}: id {} is used by \"{}\" and \"{}\"", where, field, id, tokens[k], text);
    tokens[k] = text;
    is_special[k] = special;
  };
  for (auto it = j["model"]["vocab"].begin(); it != j["model"]["vocab"].end(); ++it) {
    LMLAB_CHECK(it->is_number_integer(), "{}: model.vocab[\"{}\"] is not an id", where, it.key());
    put(it.key(), it->get<std::int64_t>(), false, "model.vocab");
  }
  for (const auto& a : j.value("added_tokens", nlohmann::json::array()))
    put(a.at("content").get<std::string>(), a.at("id").get<std::int64_t>(), a.value("special", false), "added_tokens");
  for (std::size_t i = 0; i < tokens.size(); ++i)
    LMLAB_CHECK(is_special[i] != 2, "{}: id {} has no token (ids must be 0..{} without gaps)", where, i, tokens.size() - 1);
}

std::vector<std::pair<std::string, std::string>> read_hf_merges(const nlohmann::json& list, const std::string& where) {
  std::vector<std::pair<std::string, std::string>> merges;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const auto& e = list[i];
    if (e.is_string()) merges.push_back(split_merge(e.get<std::string>(), where, "model.merges", i));
    else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) merges.emplace_back(e[0], e[1]);
    else throw error(fmt::format("{}: model.merges[{}] is neither \"left right\" nor [left, right]", where, i));
  }
  return merges;
}

// SentencePiece-style: a merge's rank orders merges as the SPM scores did (Hugging Face's
// converter emits merges by descending score), so score = -(best rank producing the token).
spm_vocab spm_vocab_from_hf(const nlohmann::json& j, const std::vector<std::string>& tokens, const std::vector<char>& is_special,
                            const std::vector<std::pair<std::string, std::string>>& merges, const std::string& where) {
  const auto& m = j["model"];
  spm_vocab v;
  v.tokens = tokens;
  v.scores.assign(tokens.size(), 0.0f);
  std::vector<char> scored(tokens.size(), 0);
  std::unordered_map<std::string, std::int32_t> id_of;
  for (std::size_t i = 0; i < tokens.size(); ++i) id_of[tokens[i]] = static_cast<std::int32_t>(i);
  for (std::size_t r = 0; r < merges.size(); ++r) {
    auto it = id_of.find(merges[r].first + merges[r].second);
    LMLAB_CHECK(it != id_of.end(), "{}: model.merges[{}]: \"{}{}\" is not in model.vocab", where, r, merges[r].first, merges[r].second);
    auto& sc = scored[static_cast<std::size_t>(it->second)];
    if (!sc) v.scores[static_cast<std::size_t>(it->second)] = -static_cast<float>(r);
    sc = 1;
  }
  v.types.assign(tokens.size(), static_cast<std::int32_t>(spm_token_type::normal));
  const std::string unk = m.contains("unk_token") && m["unk_token"].is_string() ? m["unk_token"].get<std::string>() : "<unk>";
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    if (is_special[i]) v.types[i] = static_cast<std::int32_t>(spm_token_type::control);
    if (t.size() == 6 && t.starts_with("<0x") && t.back() == '>') v.types[i] = static_cast<std::int32_t>(spm_token_type::byte);
    if (t == unk) {
      v.types[i] = static_cast<std::int32_t>(spm_token_type::unknown);
      v.unk_id = static_cast<std::int32_t>(i);
    }
  }
  v.bos_id = id_of.count("<s>") ? id_of["<s>"] : -1;
  v.eos_id = id_of.count("</s>") ? id_of["</s>"] : -1;
  // BOS first when the post-processor's single-sequence template starts with it.
  v.add_bos = false;
  if (j.contains("post_processor") && j["post_processor"].is_object()) {
    const auto& single = j["post_processor"].value("single", nlohmann::json::array());
    if (!single.empty() && single[0].contains("SpecialToken")) {
      const std::string first = single[0]["SpecialToken"].value("id", std::string());
      if (id_of.count(first)) {
        v.bos_id = id_of[first];
        v.add_bos = true;
      }
    }
  }
  return v;
}

}  // namespace

std::unique_ptr<tokenizer> tokenizer_from_hf_json(const nlohmann::json& j, const std::string& where) {
  LMLAB_CHECK(j.is_object() && j.contains("model") && j["model"].is_object(), "{}: not a Hugging Face tokenizer.json (no \"model\")",
              where);
  const auto& m = j["model"];
  const std::string type = m.value("type", std::string());
  LMLAB_CHECK_HINT(type == "BPE", "lmlab reads BPE tokenizers (GPT-2 byte-level, SentencePiece-style with byte fallback)",
                   "{}: model.type = \"{}\" is not supported", where, type);
  LMLAB_CHECK(m.contains("vocab") && m["vocab"].is_object() && m.contains("merges") && m["merges"].is_array(),
              "{}: model.vocab and model.merges are required", where);
  std::vector<std::string> tokens;
  std::vector<char> is_special;
  read_hf_tokens(j, where, tokens, is_special);
  const auto merges = read_hf_merges(m["merges"], where);
  const auto pre = parts_of(j, "pre_tokenizer"), norm = parts_of(j, "normalizer");
  const auto has = [](const std::vector<nlohmann::json>& v, const std::string& t) {
    return std::any_of(v.begin(), v.end(), [&](const nlohmann::json& x) { return x.value("type", std::string()) == t; });
  };
  if (pre.size() == 1 && has(pre, "ByteLevel")) {
    LMLAB_CHECK_HINT(!pre[0].value("add_prefix_space", false) && pre[0].value("use_regex", true),
                     "lmlab implements GPT-2's byte-level pre-tokeniser (no prefix space, GPT-2's regex)",
                     "{}: pre_tokenizer ByteLevel with add_prefix_space or without its regex is not supported", where);
    return byte_bpe_from_spelled(tokens, is_special, merges, where, "model.vocab", "model.merges");
  }
  LMLAB_CHECK_HINT(has(norm, "Replace") && pre.empty(),
                   "supported: GPT-2 byte-level BPE (pre_tokenizer ByteLevel) and SentencePiece-style BPE (\"\u2581\" for spaces)",
                   "{}: this pre_tokenizer/normalizer combination is not supported (pre-tokenisers other than GPT-2's regex "
                   "are not implemented)", where);
  return std::make_unique<spm_bpe>(spm_vocab_from_hf(j, tokens, is_special, merges, where), where);
}

}  // namespace lmlab::data
