// One interface for every tokenizer the lab trains with: text <-> int32 ids, a vocabulary
// size, and a JSON file form (`save` / `load_tokenizer`) so a checkpoint can carry the exact
// tokenizer it was trained with. Two kinds:
//  - char_tokenizer: one id per Unicode code point seen in a corpus (ids in code-point order);
//  - byte_bpe (bpe.hpp): byte-level BPE in the GPT-2 style, trained here or loaded from
//    GPT-2's own files.
// Every tokenizer round-trips arbitrary bytes, including invalid UTF-8: decode(encode(s)) == s.
// Not for: special-token parsing inside text (encode treats "<|endoftext|>" as plain text,
// like tiktoken's encode_ordinary); callers insert special ids themselves.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace lmlab::data {

class tokenizer {
 public:
  virtual ~tokenizer() = default;
  virtual std::vector<std::int32_t> encode(std::string_view text) const = 0;
  // Bytes, not necessarily valid UTF-8 (a BPE token may hold part of a character).
  virtual std::string decode(std::span<const std::int32_t> ids) const = 0;
  virtual std::int32_t vocab_size() const = 0;
  virtual std::string kind() const = 0;  // "char" or "byte_bpe"
  // The id of a special token such as "<|endoftext|>", or -1 when this tokenizer has none.
  virtual std::int32_t special_id(std::string_view name) const { return -1; }
  virtual nlohmann::json to_json() const = 0;
  // Writes to_json() atomically.
  void save(const std::filesystem::path& path) const;
};

// Reads a file written by tokenizer::save; errors name the file and the bad field.
std::unique_ptr<tokenizer> load_tokenizer(const std::filesystem::path& path);
// `where` names the source in errors (a file name, or "<json>").
std::unique_ptr<tokenizer> tokenizer_from_json(const nlohmann::json& j, const std::string& where);

// Character-level tokenizer. Vocabulary: the distinct code points of the training text in
// ascending code-point order (deterministic for a given text). A byte that is not part of
// valid UTF-8 is its own "character", stored as U+DC00 + byte (Python's surrogateescape),
// so invalid input round-trips. Encoding a character outside the vocabulary is an error that
// names it, unless the vocabulary has an unknown id (`unk`), which is then used.
class char_tokenizer final : public tokenizer {
 public:
  // Builds the vocabulary from `texts`.
  static char_tokenizer build(std::span<const std::string_view> texts);
  explicit char_tokenizer(std::vector<std::uint32_t> chars);

  std::vector<std::int32_t> encode(std::string_view text) const override;
  std::string decode(std::span<const std::int32_t> ids) const override;
  std::int32_t vocab_size() const override { return static_cast<std::int32_t>(chars_.size()); }
  std::string kind() const override { return "char"; }
  nlohmann::json to_json() const override;
  const std::vector<std::uint32_t>& chars() const { return chars_; }

 private:
  std::vector<std::uint32_t> chars_;                        // id -> code point (or 0xDC00+byte)
  std::vector<std::int32_t> bmp_;                           // code point < 0x10000 -> id or -1
  std::unordered_map<std::uint32_t, std::int32_t> astral_;  // code point >= 0x10000 -> id
};

}  // namespace lmlab::data
