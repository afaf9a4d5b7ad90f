// SentencePiece-style BPE with byte fallback: see spm_bpe.hpp.
#include "data/spm_bpe.hpp"

#include <queue>

#include "core/error.hpp"

namespace lmlab::data {

namespace {
const std::string k_space = "\xe2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK

// Length of the UTF-8 character starting with byte c (1 for a stray continuation byte).
std::size_t utf8_len(unsigned char c) {
  if (c >= 0xF0) return 4;
  if (c >= 0xE0) return 3;
  if (c >= 0xC0) return 2;
  return 1;
}
}  // namespace

spm_bpe::spm_bpe(spm_vocab v, const std::string& where) : v_(std::move(v)) {
  const std::size_t n = v_.tokens.size();
  LMLAB_CHECK(n > 0, "{}: tokenizer.ggml.tokens is empty", where);
  LMLAB_CHECK(v_.scores.empty() || v_.scores.size() == n, "{}: tokenizer.ggml.scores has {} entries for {} tokens", where,
              v_.scores.size(), n);
  LMLAB_CHECK(v_.types.empty() || v_.types.size() == n, "{}: tokenizer.ggml.token_type has {} entries for {} tokens", where,
              v_.types.size(), n);
  if (v_.scores.empty()) v_.scores.assign(n, 0.0f);
  if (v_.types.empty()) v_.types.assign(n, static_cast<std::int32_t>(spm_token_type::normal));
  const auto in_range = [&](std::int32_t id) { return id >= 0 && static_cast<std::size_t>(id) < n; };
  LMLAB_CHECK(in_range(v_.bos_id) || !v_.add_bos, "{}: tokenizer.ggml.bos_token_id {} is outside the vocabulary of {}", where,
              v_.bos_id, n);
  // Later duplicates win, as in llama.cpp's token_to_id map.
  for (std::size_t i = 0; i < n; ++i) id_of_[v_.tokens[i]] = static_cast<std::int32_t>(i);
  for (int b = 0; b < 256; ++b) {
    auto it = id_of_.find(fmt::format("<0x{:02X}>", b));
    byte_id_[b] = it == id_of_.end() ? -1 : it->second;
  }
}

std::vector<std::int32_t> spm_bpe::encode(std::string_view text) const {
  std::vector<std::int32_t> out;
  if (text.empty()) return out;
  std::string s = v_.add_space_prefix ? k_space : "";
  for (char c : text) {
    if (c == ' ') s += k_space;
    else s += c;
  }
  // Symbols: a doubly linked list over character spans of s.
  struct sym {
    std::size_t begin, len;
    int prev, next;
  };
  std::vector<sym> syms;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t l = std::min(utf8_len(static_cast<unsigned char>(s[i])), s.size() - i);
    syms.push_back({i, l, static_cast<int>(syms.size()) - 1, static_cast<int>(syms.size()) + 1});
    i += l;
  }
  syms.back().next = -1;
  struct bigram {
    int left, right;
    float score;
    std::size_t len;
  };
  // Highest score first; ties: the leftmost pair.
  const auto worse = [](const bigram& a, const bigram& b) { return a.score < b.score || (a.score == b.score && a.left > b.left); };
  std::priority_queue<bigram, std::vector<bigram>, decltype(worse)> q(worse);
  const auto try_add = [&](int l, int r) {
    if (l < 0 || r < 0) return;
    const std::string piece = s.substr(syms[l].begin, syms[l].len + syms[r].len);
    auto it = id_of_.find(piece);
    if (it == id_of_.end()) return;
    q.push({l, r, v_.scores[static_cast<std::size_t>(it->second)], piece.size()});
  };
  for (std::size_t i = 1; i < syms.size(); ++i) try_add(static_cast<int>(i) - 1, static_cast<int>(i));
  while (!q.empty()) {
    const bigram b = q.top();
    q.pop();
    sym& l = syms[static_cast<std::size_t>(b.left)];
    sym& r = syms[static_cast<std::size_t>(b.right)];
    // Stale: one side was merged away or grew since the pair was queued.
    if (l.len == 0 || r.len == 0 || l.len + r.len != b.len || l.next != b.right) continue;
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) syms[static_cast<std::size_t>(r.next)].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }
  for (int i = 0; i >= 0; i = syms[static_cast<std::size_t>(i)].next) {
    const sym& x = syms[static_cast<std::size_t>(i)];
    const std::string piece = s.substr(x.begin, x.len);
    if (auto it = id_of_.find(piece); it != id_of_.end()) {
      out.push_back(it->second);
      continue;
    }
    for (unsigned char c : piece) out.push_back(byte_id_[c] >= 0 ? byte_id_[c] : v_.unk_id);
  }
  return out;
}

std::string spm_bpe::decode(std::span<const std::int32_t> ids) const {
  std::string out;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::int32_t id = ids[i];
    LMLAB_CHECK(id >= 0 && id < vocab_size(), "spm_bpe: decode: id {} at position {} is outside the vocabulary [0, {})", id, i,
                vocab_size());
    const auto t = static_cast<spm_token_type>(v_.types[static_cast<std::size_t>(id)]);
    const std::string& tok = v_.tokens[static_cast<std::size_t>(id)];
    if (t == spm_token_type::control || t == spm_token_type::unknown || t == spm_token_type::unused) continue;
    if (t == spm_token_type::byte && tok.size() == 6 && tok.starts_with("<0x")) {
      out += static_cast<char>(std::stoi(tok.substr(3, 2), nullptr, 16));
      continue;
    }
    std::string piece;
    for (std::size_t k = 0; k < tok.size();) {
      if (tok.compare(k, 3, k_space) == 0) {
        piece += ' ';
        k += 3;
      } else {
        piece += tok[k++];
      }
    }
    // run.c: the dummy-prefix space of the piece after BOS is not text.
    if (i > 0 && ids[i - 1] == v_.bos_id && piece.starts_with(' ')) piece.erase(0, 1);
    out += piece;
  }
  return out;
}

std::int32_t spm_bpe::special_id(std::string_view name) const {
  if (name == "bos") return v_.bos_id;
  if (name == "eos") return v_.eos_id;
  if (name == "unk") return v_.unk_id;
  auto it = id_of_.find(std::string(name));
  if (it == id_of_.end()) return -1;
  const auto t = static_cast<spm_token_type>(v_.types[static_cast<std::size_t>(it->second)]);
  return t == spm_token_type::control || t == spm_token_type::user_defined ? it->second : -1;
}

nlohmann::json spm_bpe::to_json() const {
  return {{"type", "spm_bpe"},        {"version", 1},
          {"tokens", v_.tokens},      {"scores", v_.scores},
          {"token_types", v_.types},  {"bos_id", v_.bos_id},
          {"eos_id", v_.eos_id},      {"unk_id", v_.unk_id},
          {"add_bos", v_.add_bos},    {"add_space_prefix", v_.add_space_prefix}};
}

spm_bpe spm_bpe::from_json(const nlohmann::json& j, const std::string& where) {
  spm_vocab v;
  try {
    v.tokens = j.at("tokens").get<std::vector<std::string>>();
    v.scores = j.at("scores").get<std::vector<float>>();
    v.types = j.at("token_types").get<std::vector<std::int32_t>>();
    v.bos_id = j.at("bos_id").get<std::int32_t>();
    v.eos_id = j.at("eos_id").get<std::int32_t>();
    v.unk_id = j.at("unk_id").get<std::int32_t>();
    v.add_bos = j.at("add_bos").get<bool>();
    v.add_space_prefix = j.at("add_space_prefix").get<bool>();
  } catch (const nlohmann::json::exception& e) {
    throw error(fmt::format("{}: spm_bpe tokenizer: {}", where, e.what()), "rewrite it with lmlab convert");
  }
  return spm_bpe(std::move(v), where);
}

std::vector<std::int32_t> encode_for_generation(const tokenizer& tok, std::string_view text) {
  std::vector<std::int32_t> ids;
  if (const auto* spm = dynamic_cast<const spm_bpe*>(&tok); spm && spm->add_bos()) ids.push_back(spm->bos_id());
  const auto rest = tok.encode(text);
  ids.insert(ids.end(), rest.begin(), rest.end());
  return ids;
}

}  // namespace lmlab::data
