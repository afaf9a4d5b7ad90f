// Byte-level BPE: GPT-2 vocabulary loading, encode/decode, JSON form and training. See bpe.hpp.
#include "data/bpe.hpp"

#include <algorithm>
#include <climits>
#include <set>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "data/utf8.hpp"

namespace lmlab::data {

namespace {
constexpr std::uint64_t pair_key(std::int32_t l, std::int32_t r) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(l)) << 32) | static_cast<std::uint32_t>(r);
}

struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
}  // namespace

struct byte_bpe::word_cache {
  std::mutex mu;
  std::unordered_map<std::string, std::vector<std::int32_t>, string_hash, std::equal_to<>> map;
  static constexpr std::size_t limit = 1 << 20;
};

byte_bpe::byte_bpe(byte_bpe&&) noexcept = default;
byte_bpe& byte_bpe::operator=(byte_bpe&&) noexcept = default;
byte_bpe::~byte_bpe() = default;

// ---- GPT-2 byte spelling ----

const std::array<std::uint32_t, 256>& gpt2_byte_to_unicode() {
  // Printable Latin-1 bytes map to themselves; the other 68 bytes map, in byte order, to
  // U+0100, U+0101, ... (GPT-2 encoder.py, bytes_to_unicode).
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    std::uint32_t next = 256;
    for (std::uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      t[b] = printable ? b : next++;
    }
    return t;
  }();
  return table;
}

std::string gpt2_spell(std::string_view bytes) {
  const auto& t = gpt2_byte_to_unicode();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) utf8_append(out, t[b]);
  return out;
}

std::string gpt2_unspell(std::string_view spelled, std::string_view where) {
  static const std::unordered_map<std::uint32_t, unsigned char> inverse = [] {
    std::unordered_map<std::uint32_t, unsigned char> m;
    const auto& t = gpt2_byte_to_unicode();
    for (int b = 0; b < 256; ++b) m[t[b]] = static_cast<unsigned char>(b);
    return m;
  }();
  std::string out;
  for (std::size_t i = 0; i < spelled.size();) {
    int len;
    const std::int32_t cp = utf8_decode(spelled, i, len);
    auto it = cp >= 0 ? inverse.find(static_cast<std::uint32_t>(cp)) : inverse.end();
    LMLAB_CHECK(it != inverse.end(), "{}: token \"{}\" has a character at byte {} outside GPT-2's byte alphabet", where,
                spelled, i);
    out += static_cast<char>(it->second);
    i += static_cast<std::size_t>(len);
  }
  return out;
}

// ---- construction ----

byte_bpe::byte_bpe(std::vector<std::string> token_bytes, std::vector<merge> merges, std::map<std::string, std::int32_t> special)
    : token_bytes_(std::move(token_bytes)), merges_(std::move(merges)), special_(std::move(special)),
      pre_(std::make_shared<gpt2_pretokenizer>()), cache_(std::make_unique<word_cache>()) {
  const auto n = static_cast<std::int32_t>(token_bytes_.size());
  byte_id_.fill(-1);
  for (std::int32_t id = 0; id < n; ++id) {
    LMLAB_CHECK(!token_bytes_[id].empty(), "byte_bpe: token {} is empty", id);
    if (token_bytes_[id].size() == 1) byte_id_[static_cast<unsigned char>(token_bytes_[id][0])] = id;
  }
  for (int b = 0; b < 256; ++b)
    LMLAB_CHECK(byte_id_[b] >= 0, "byte_bpe: no token for byte 0x{:02X}", b);
  merge_rank_.reserve(merges_.size() * 2);
  for (std::size_t rank = 0; rank < merges_.size(); ++rank) {
    const merge& m = merges_[rank];
    LMLAB_CHECK(m.left >= 0 && m.left < n && m.right >= 0 && m.right < n && m.result >= 0 && m.result < n,
                "byte_bpe: merge {} refers to an id outside [0, {})", rank, n);
    LMLAB_CHECK(token_bytes_[m.left] + token_bytes_[m.right] == token_bytes_[m.result],
                "byte_bpe: merge {} ({} + {} -> {}) does not concatenate its tokens' bytes", rank, m.left, m.right, m.result);
    const auto [it, fresh] =
        merge_rank_.emplace(pair_key(m.left, m.right), std::make_pair(static_cast<std::int32_t>(rank), m.result));
    LMLAB_CHECK(fresh, "byte_bpe: merge {} ({} + {}) repeats merge {}", rank, m.left, m.right, it->second.first);
  }
  vocab_size_ = n;
  for (const auto& [text, id] : special_) {
    LMLAB_CHECK(id >= n, "byte_bpe: special token {} has id {}, which an ordinary token already uses", text, id);
    LMLAB_CHECK(special_text_.emplace(id, text).second, "byte_bpe: special id {} used twice", id);
    vocab_size_ = std::max(vocab_size_, id + 1);
  }
}

namespace {
// Shared by load_gpt2 and from_json: vocabulary spelled GPT-2 style, merges "left right".
byte_bpe build_spelled(const std::vector<std::pair<std::string, std::int32_t>>& vocab,
                       const std::vector<std::string>& merge_lines, std::map<std::string, std::int32_t> special,
                       const std::string& vocab_where, const std::string& merges_where) {
  std::int32_t n = 0;
  for (const auto& [s, id] : vocab) {
    LMLAB_CHECK(id >= 0, "{}: token \"{}\" has negative id {}", vocab_where, s, id);
    // Ordinary ids are 0..n-1 without gaps, so an id past the token count is an error before
    // anything is allocated for it.
    LMLAB_CHECK(static_cast<std::size_t>(id) < vocab.size(), "{}: token \"{}\" has id {}, but there are only {} tokens",
                vocab_where, s, id, vocab.size());
    n = std::max(n, id + 1);
  }
  std::vector<std::string> bytes(static_cast<std::size_t>(n));
  std::unordered_map<std::string, std::int32_t> by_spelling;
  for (const auto& [s, id] : vocab) {
    LMLAB_CHECK(bytes[id].empty(), "{}: id {} is used twice", vocab_where, id);
    bytes[id] = gpt2_unspell(s, vocab_where);
    const auto [it, fresh] = by_spelling.emplace(s, id);
    LMLAB_CHECK(fresh, "{}: token \"{}\" appears twice (ids {} and {})", vocab_where, s, it->second, id);
  }
  for (std::int32_t id = 0; id < n; ++id)
    LMLAB_CHECK(!bytes[id].empty(), "{}: id {} is missing (ordinary ids must be 0..{} without gaps)", vocab_where, id, n - 1);
  std::vector<byte_bpe::merge> merges;
  merges.reserve(merge_lines.size());
  for (std::size_t i = 0; i < merge_lines.size(); ++i) {
    const std::string& line = merge_lines[i];
    const auto sp = line.find(' ');
    LMLAB_CHECK(sp != std::string::npos && sp > 0 && sp + 1 < line.size() && line.find(' ', sp + 1) == std::string::npos,
                "{}: merge {} \"{}\" is not \"left right\"", merges_where, i, line);
    const std::string l = line.substr(0, sp), r = line.substr(sp + 1);
    auto li = by_spelling.find(l), ri = by_spelling.find(r), mi = by_spelling.find(l + r);
    LMLAB_CHECK(li != by_spelling.end() && ri != by_spelling.end() && mi != by_spelling.end(),
                "{}: merge {} \"{}\": a token (\"{}\", \"{}\" or \"{}\") is not in the vocabulary {}", merges_where, i, line,
                l, r, l + r, vocab_where);
    merges.push_back({li->second, ri->second, mi->second});
  }
  return byte_bpe(std::move(bytes), std::move(merges), std::move(special));
}
}  // namespace

byte_bpe byte_bpe::load_gpt2(const std::filesystem::path& encoder_json, const std::filesystem::path& vocab_bpe) {
  nlohmann::json enc;
  try {
    enc = nlohmann::json::parse(read_text_file(encoder_json));
  } catch (const nlohmann::json::exception& e) {
    throw error(fmt::format("{}: invalid JSON: {}", encoder_json.string(), e.what()));
  }
  LMLAB_CHECK(enc.is_object(), "{}: expected an object mapping token -> id", encoder_json.string());
  std::vector<std::pair<std::string, std::int32_t>> vocab;
  std::map<std::string, std::int32_t> special;
  for (auto it = enc.begin(); it != enc.end(); ++it) {
    LMLAB_CHECK(it.value().is_number_integer(), "{}: token \"{}\": id is not an integer", encoder_json.string(), it.key());
    if (it.key() == "<|endoftext|>") special[it.key()] = it.value().get<std::int32_t>();
    else vocab.emplace_back(it.key(), it.value().get<std::int32_t>());
  }
  const std::string text = read_text_file(vocab_bpe);
  std::vector<std::string> lines;
  std::size_t pos = 0;
  bool first = true;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (first && line.rfind("#version", 0) == 0) { first = false; continue; }
    first = false;
    if (!line.empty()) lines.push_back(std::move(line));
  }
  return build_spelled(vocab, lines, std::move(special), encoder_json.string(), vocab_bpe.string());
}

byte_bpe byte_bpe::from_json(const nlohmann::json& j, const std::string& where) {
  auto need = [&](const char* key, auto pred, const char* what) -> const nlohmann::json& {
    LMLAB_CHECK(j.contains(key) && pred(j[key]), "{}: byte_bpe tokenizer: field \"{}\" must be {}", where, key, what);
    return j[key];
  };
  const auto& pre = need("pre_tokenizer", [](const auto& v) { return v.is_string(); }, "a string");
  LMLAB_CHECK(pre.get<std::string>() == "gpt2", "{}: byte_bpe tokenizer: pre_tokenizer \"{}\" is not supported (only \"gpt2\")",
              where, pre.get<std::string>());
  const auto& jv = need("vocab", [](const auto& v) { return v.is_array(); }, "an array of GPT-2-spelled tokens");
  const auto& jm = need("merges", [](const auto& v) { return v.is_array(); }, "an array of \"left right\" strings");
  std::vector<std::pair<std::string, std::int32_t>> vocab;
  for (std::size_t i = 0; i < jv.size(); ++i) {
    LMLAB_CHECK(jv[i].is_string(), "{}: byte_bpe tokenizer: vocab[{}] is not a string", where, i);
    vocab.emplace_back(jv[i].get<std::string>(), static_cast<std::int32_t>(i));
  }
  std::vector<std::string> lines;
  for (std::size_t i = 0; i < jm.size(); ++i) {
    LMLAB_CHECK(jm[i].is_string(), "{}: byte_bpe tokenizer: merges[{}] is not a string", where, i);
    lines.push_back(jm[i].get<std::string>());
  }
  std::map<std::string, std::int32_t> special;
  if (j.contains("special_tokens")) {
    LMLAB_CHECK(j["special_tokens"].is_object(), "{}: byte_bpe tokenizer: \"special_tokens\" must map text -> id", where);
    for (auto it = j["special_tokens"].begin(); it != j["special_tokens"].end(); ++it) {
      LMLAB_CHECK(it.value().is_number_integer(), "{}: byte_bpe tokenizer: special token \"{}\": id is not an integer", where,
                  it.key());
      special[it.key()] = it.value().get<std::int32_t>();
    }
  }
  try {
    return build_spelled(vocab, lines, std::move(special), where, where);
  } catch (const error& e) {
    const std::string msg = e.what();
    if (msg.rfind(where, 0) == 0) throw;
    throw error(where + ": " + msg, e.hint());
  }
}

nlohmann::json byte_bpe::to_json() const {
  nlohmann::json vocab = nlohmann::json::array(), merges = nlohmann::json::array();
  for (const auto& b : token_bytes_) vocab.push_back(gpt2_spell(b));
  for (const auto& m : merges_) merges.push_back(gpt2_spell(token_bytes_[m.left]) + " " + gpt2_spell(token_bytes_[m.right]));
  nlohmann::json special = nlohmann::json::object();
  for (const auto& [t, id] : special_) special[t] = id;
  return {{"type", "byte_bpe"}, {"version", 1},      {"pre_tokenizer", "gpt2"},   {"vocab_size", vocab_size_},
          {"vocab", vocab},     {"merges", merges}, {"special_tokens", special}};
}

// ---- encode / decode ----

const std::string& byte_bpe::token_bytes(std::int32_t id) const {
  LMLAB_CHECK(id >= 0 && id < static_cast<std::int32_t>(token_bytes_.size()), "byte_bpe: id {} is not an ordinary token", id);
  return token_bytes_[static_cast<std::size_t>(id)];
}

std::int32_t byte_bpe::special_id(std::string_view name) const {
  auto it = special_.find(std::string(name));
  return it == special_.end() ? -1 : it->second;
}

void byte_bpe::encode_word(std::string_view word, std::vector<std::int32_t>& out) const {
  if (word.size() == 1) {
    out.push_back(byte_id_[static_cast<unsigned char>(word[0])]);
    return;
  }
  // syms[i]: current tokens; rank[i]: rank of the pair (syms[i], syms[i+1]) or INT_MAX.
  std::vector<std::int32_t> syms(word.size());
  for (std::size_t i = 0; i < word.size(); ++i) syms[i] = byte_id_[static_cast<unsigned char>(word[i])];
  auto lookup = [&](std::int32_t l, std::int32_t r) {
    auto it = merge_rank_.find(pair_key(l, r));
    return it == merge_rank_.end() ? std::make_pair(INT_MAX, -1) : it->second;
  };
  std::vector<std::pair<std::int32_t, std::int32_t>> rank(syms.size() - 1);
  for (std::size_t i = 0; i + 1 < syms.size(); ++i) rank[i] = lookup(syms[i], syms[i + 1]);
  while (!rank.empty()) {
    std::size_t best = 0;
    for (std::size_t i = 1; i < rank.size(); ++i)
      if (rank[i].first < rank[best].first) best = i;  // strict: the leftmost of equal ranks
    if (rank[best].first == INT_MAX) break;
    syms[best] = rank[best].second;
    syms.erase(syms.begin() + static_cast<std::ptrdiff_t>(best) + 1);
    rank.erase(rank.begin() + static_cast<std::ptrdiff_t>(best));
    if (best > 0) rank[best - 1] = lookup(syms[best - 1], syms[best]);
    if (best < rank.size()) rank[best] = lookup(syms[best], syms[best + 1]);
  }
  out.insert(out.end(), syms.begin(), syms.end());
}

std::vector<std::int32_t> byte_bpe::encode(std::string_view text) const {
  std::vector<std::int32_t> ids;
  ids.reserve(text.size() / 3 + 1);
  std::vector<std::int32_t> tmp;
  pre_->split(text, [&](std::string_view word) {
    {
      std::lock_guard lock(cache_->mu);
      if (auto it = cache_->map.find(word); it != cache_->map.end()) {
        ids.insert(ids.end(), it->second.begin(), it->second.end());
        return;
      }
    }
    tmp.clear();
    encode_word(word, tmp);
    ids.insert(ids.end(), tmp.begin(), tmp.end());
    std::lock_guard lock(cache_->mu);
    if (cache_->map.size() >= word_cache::limit) cache_->map.clear();
    cache_->map.emplace(std::string(word), tmp);
  });
  return ids;
}

std::string byte_bpe::decode(std::span<const std::int32_t> ids) const {
  std::string out;
  out.reserve(ids.size() * 4);
  const auto n = static_cast<std::int32_t>(token_bytes_.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::int32_t id = ids[i];
    if (id >= 0 && id < n) {
      out += token_bytes_[static_cast<std::size_t>(id)];
      continue;
    }
    auto it = special_text_.find(id);
    LMLAB_CHECK(it != special_text_.end(), "byte_bpe: decode: id {} at position {} is outside the vocabulary [0, {})", id, i,
                vocab_size_);
    out += it->second;
  }
  return out;
}

// ---- training ----

namespace {
struct pair_entry {
  std::int64_t count;
  std::int32_t left, right;
  bool operator<(const pair_entry& o) const {
    if (count != o.count) return count > o.count;  // highest count first
    if (left != o.left) return left < o.left;      // ties: smallest (left, right)
    return right < o.right;
  }
};
}  // namespace

// Long (~90 lines) on purpose: one merge loop whose pair counts, heap and word list are updated
// together at each merge; split apart, each piece would need all of that state.
byte_bpe train_byte_bpe(std::span<const std::string_view> texts, const bpe_train_options& opt) {
  const auto n_special = static_cast<std::int32_t>(opt.special_tokens.size());
  LMLAB_CHECK(opt.vocab_size >= 256 + n_special, "bpe train: vocab_size {} is below 256 byte tokens + {} special tokens",
              opt.vocab_size, n_special);
  LMLAB_CHECK(opt.min_pair_count >= 1, "bpe train: min_pair_count must be >= 1, got {}", opt.min_pair_count);
  // Word counts over the corpus, then words in byte order so every later step is deterministic.
  gpt2_pretokenizer pre;
  std::unordered_map<std::string, std::int64_t, string_hash, std::equal_to<>> counts;
  for (auto t : texts)
    pre.split(t, [&](std::string_view w) {
      if (auto it = counts.find(w); it != counts.end()) ++it->second;
      else counts.emplace(std::string(w), 1);
    });
  std::vector<std::pair<std::string, std::int64_t>> sorted(counts.begin(), counts.end());
  counts.clear();
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::vector<std::int32_t>> words(sorted.size());
  std::vector<std::int64_t> freq(sorted.size());
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    for (unsigned char b : sorted[i].first) words[i].push_back(b);
    freq[i] = sorted[i].second;
  }

  std::unordered_map<std::uint64_t, std::int64_t> pair_count;
  std::unordered_map<std::uint64_t, std::vector<std::int32_t>> where;
  std::set<pair_entry> order;
  auto add = [&](std::int32_t l, std::int32_t r, std::int64_t delta, std::int32_t word) {
    const auto key = pair_key(l, r);
    std::int64_t& c = pair_count[key];
    if (c > 0) order.erase({c, l, r});
    c += delta;
    if (c > 0) order.insert({c, l, r});
    if (delta > 0) where[key].push_back(word);
  };
  for (std::size_t w = 0; w < words.size(); ++w)
    for (std::size_t i = 0; i + 1 < words[w].size(); ++i) add(words[w][i], words[w][i + 1], freq[w], static_cast<std::int32_t>(w));

  std::vector<std::string> token_bytes;
  std::unordered_map<std::string, std::int32_t> id_of;
  for (int b = 0; b < 256; ++b) {
    token_bytes.emplace_back(1, static_cast<char>(b));
    id_of[token_bytes.back()] = b;
  }
  std::vector<byte_bpe::merge> merges;
  std::vector<std::int64_t> stamp(words.size(), -1);
  const std::int32_t target = opt.vocab_size - n_special;
  std::vector<std::int32_t> merged;
  while (static_cast<std::int32_t>(token_bytes.size()) < target && !order.empty()) {
    const pair_entry best = *order.begin();
    if (best.count < opt.min_pair_count) break;
    std::string bytes = token_bytes[best.left] + token_bytes[best.right];
    std::int32_t result;
    if (auto it = id_of.find(bytes); it != id_of.end()) {
      result = it->second;
    } else {
      result = static_cast<std::int32_t>(token_bytes.size());
      id_of.emplace(bytes, result);
      token_bytes.push_back(std::move(bytes));
    }
    const auto mi = static_cast<std::int64_t>(merges.size());
    merges.push_back({best.left, best.right, result});
    const auto key = pair_key(best.left, best.right);
    std::vector<std::int32_t> list = std::move(where[key]);
    where.erase(key);
    for (std::int32_t w : list) {
      if (stamp[w] == mi) continue;
      stamp[w] = mi;
      auto& ids = words[w];
      bool has = false;
      for (std::size_t i = 0; i + 1 < ids.size() && !has; ++i) has = ids[i] == best.left && ids[i + 1] == best.right;
      if (!has) continue;
      for (std::size_t i = 0; i + 1 < ids.size(); ++i) add(ids[i], ids[i + 1], -freq[w], w);
      merged.clear();
      for (std::size_t i = 0; i < ids.size();) {
        if (i + 1 < ids.size() && ids[i] == best.left && ids[i + 1] == best.right) {
          merged.push_back(result);
          i += 2;
        } else {
          merged.push_back(ids[i++]);
        }
      }
      ids = merged;
      for (std::size_t i = 0; i + 1 < ids.size(); ++i) add(ids[i], ids[i + 1], freq[w], w);
    }
  }
  std::map<std::string, std::int32_t> special;
  for (const auto& s : opt.special_tokens) {
    LMLAB_CHECK(!special.count(s), "bpe train: special token \"{}\" listed twice", s);
    special[s] = static_cast<std::int32_t>(token_bytes.size() + special.size());
  }
  return byte_bpe(std::move(token_bytes), std::move(merges), std::move(special));
}

}  // namespace lmlab::data
