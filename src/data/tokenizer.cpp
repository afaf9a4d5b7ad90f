// Tokenizer interface, JSON load/save and the char tokenizer: see tokenizer.hpp.
#include "data/tokenizer.hpp"

#include <algorithm>
#include <set>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "data/bpe.hpp"
#include "data/spm_bpe.hpp"
#include "data/utf8.hpp"

namespace lmlab::data {

namespace {
constexpr std::uint32_t k_raw_byte_base = 0xDC00;  // surrogateescape: invalid byte b -> U+DC00+b

// Calls f(code, byte_offset) for each character of `text`; invalid bytes give 0xDC00+byte.
template <class F>
void for_each_char(std::string_view text, F&& f) {
  for (std::size_t i = 0; i < text.size();) {
    int len;
    const std::int32_t cp = utf8_decode(text, i, len);
    f(cp >= 0 ? static_cast<std::uint32_t>(cp) : k_raw_byte_base + static_cast<unsigned char>(text[i]), i);
    i += static_cast<std::size_t>(len);
  }
}
}  // namespace

void tokenizer::save(const std::filesystem::path& path) const {
  write_file_atomic(path, to_json().dump(1) + "\n");
}

std::unique_ptr<tokenizer> tokenizer_from_json(const nlohmann::json& j, const std::string& where) {
  LMLAB_CHECK(j.is_object() && j.contains("type") && j["type"].is_string(),
              "{}: not a tokenizer file: missing string field \"type\"", where);
  const auto type = j["type"].get<std::string>();
  if (type == "char") {
    LMLAB_CHECK(j.contains("chars") && j["chars"].is_array(), "{}: char tokenizer: missing array \"chars\"", where);
    std::vector<std::uint32_t> chars;
    for (const auto& c : j["chars"]) {
      LMLAB_CHECK(c.is_number_unsigned(), "{}: char tokenizer: \"chars\" must hold code points (unsigned integers)", where);
      LMLAB_CHECK(c.get<std::uint64_t>() <= 0x10FFFF, "{}: char tokenizer: id {}: {} is not a code point", where,
                  chars.size(), c.get<std::uint64_t>());
      chars.push_back(c.get<std::uint32_t>());
    }
    try {
      return std::make_unique<char_tokenizer>(std::move(chars));
    } catch (const error& e) {
      throw error(where + ": " + e.what());
    }
  }
  if (type == "byte_bpe") return std::make_unique<byte_bpe>(byte_bpe::from_json(j, where));
  if (type == "spm_bpe") return std::make_unique<spm_bpe>(spm_bpe::from_json(j, where));
  throw error(fmt::format("{}: unknown tokenizer type \"{}\"", where, type), "expected \"char\", \"byte_bpe\" or \"spm_bpe\"");
}

std::unique_ptr<tokenizer> load_tokenizer(const std::filesystem::path& path) {
  const std::string text = read_text_file(path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw error(fmt::format("{}: invalid JSON: {}", path.string(), e.what()));
  }
  return tokenizer_from_json(j, path.string());
}

// ---- char tokenizer ----

char_tokenizer char_tokenizer::build(std::span<const std::string_view> texts) {
  std::vector<bool> seen_bmp(0x10000, false);
  std::set<std::uint32_t> astral;
  for (auto t : texts)
    for_each_char(t, [&](std::uint32_t c, std::size_t) {
      if (c < 0x10000) seen_bmp[c] = true;
      else astral.insert(c);
    });
  std::vector<std::uint32_t> chars;
  for (std::uint32_t c = 0; c < 0x10000; ++c)
    if (seen_bmp[c]) chars.push_back(c);
  chars.insert(chars.end(), astral.begin(), astral.end());
  return char_tokenizer(std::move(chars));
}

char_tokenizer::char_tokenizer(std::vector<std::uint32_t> chars) : chars_(std::move(chars)), bmp_(0x10000, -1) {
  LMLAB_CHECK(!chars_.empty(), "char tokenizer: empty vocabulary");
  for (std::size_t i = 0; i < chars_.size(); ++i) {
    const std::uint32_t c = chars_[i];
    LMLAB_CHECK(c <= 0x10FFFF, "char tokenizer: id {}: U+{:X} is not a code point", i, c);
    // Surrogates are not characters; U+DC80..U+DCFF stand for raw bytes 0x80..0xFF (the only
    // bytes that can be invalid UTF-8), as in Python's surrogateescape.
    LMLAB_CHECK_HINT(c < 0xD800 || c > 0xDFFF || (c >= k_raw_byte_base + 0x80 && c < k_raw_byte_base + 0x100),
                     "U+D800..U+DFFF are UTF-16 surrogates; only U+DC80..U+DCFF (raw bytes) may appear",
                     "char tokenizer: id {}: U+{:04X} is a lone surrogate, not a character", i, c);
    const bool dup = c < 0x10000 ? bmp_[c] >= 0 : astral_.count(c) > 0;
    LMLAB_CHECK(!dup, "char tokenizer: id {}: U+{:04X} appears twice in the vocabulary", i, c);
    if (c < 0x10000) bmp_[c] = static_cast<std::int32_t>(i);
    else astral_[c] = static_cast<std::int32_t>(i);
  }
}

std::vector<std::int32_t> char_tokenizer::encode(std::string_view text) const {
  std::vector<std::int32_t> ids;
  ids.reserve(text.size());
  for_each_char(text, [&](std::uint32_t c, std::size_t at) {
    std::int32_t id = -1;
    if (c < 0x10000) id = bmp_[c];
    else if (auto it = astral_.find(c); it != astral_.end()) id = it->second;
    if (id < 0) {
      std::string shown;
      if (c >= k_raw_byte_base && c < k_raw_byte_base + 256) shown = fmt::format("raw byte 0x{:02X}", c - k_raw_byte_base);
      else { utf8_append(shown, c); shown = fmt::format("'{}' (U+{:04X})", shown, c); }
      throw error(fmt::format("char tokenizer: {} at byte {} is not in the vocabulary ({} characters)", shown, at, chars_.size()),
                  "build the char vocabulary from a corpus that contains every character you encode");
    }
    ids.push_back(id);
  });
  return ids;
}

std::string char_tokenizer::decode(std::span<const std::int32_t> ids) const {
  std::string out;
  out.reserve(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::int32_t id = ids[i];
    LMLAB_CHECK(id >= 0 && id < vocab_size(), "char tokenizer: decode: id {} at position {} is outside the vocabulary [0, {})",
                id, i, vocab_size());
    const std::uint32_t c = chars_[static_cast<std::size_t>(id)];
    if (c >= k_raw_byte_base && c < k_raw_byte_base + 256) out += static_cast<char>(c - k_raw_byte_base);
    else utf8_append(out, c);
  }
  return out;
}

nlohmann::json char_tokenizer::to_json() const {
  return {{"type", "char"}, {"version", 1}, {"vocab_size", vocab_size()}, {"chars", chars_}};
}

}  // namespace lmlab::data
