// The GPT-2 pre-tokenizer: splits text into "words" that byte-level BPE then encodes one by
// one (merges never cross a word boundary). Pattern, from GPT-2's encoder.py (identical to
// tiktoken's r50k_base):
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// It needs Unicode classes and a negative lookahead, so it runs on PCRE2 (UTF + UCP, JIT),
// not std::regex. Bytes that are not valid UTF-8 match nothing; each maximal run of them
// becomes a word of its own, so every input byte lands in exactly one word.
// Not for: other tokenizers' patterns (cl100k, o200k).
#pragma once

#include <memory>
#include <string_view>
#include <vector>

namespace lmlab::data {

class gpt2_pretokenizer {
 public:
  gpt2_pretokenizer();
  ~gpt2_pretokenizer();
  gpt2_pretokenizer(const gpt2_pretokenizer&) = delete;
  gpt2_pretokenizer& operator=(const gpt2_pretokenizer&) = delete;

  // Calls f(std::string_view word) for each word, in order; the words concatenate to `text`.
  template <class F>
  void split(std::string_view text, F&& f) const {
    std::size_t off = 0;
    while (off < text.size()) {
      std::size_t start, end;
      if (!next(text, off, start, end)) {
        f(text.substr(off));
        return;
      }
      if (start > off) f(text.substr(off, start - off));
      f(text.substr(start, end - start));
      off = end;
    }
  }
  std::vector<std::string_view> split(std::string_view text) const;

  static const char* pattern();

 private:
  // Next match at or after `off`: [start, end). False when none.
  bool next(std::string_view text, std::size_t off, std::size_t& start, std::size_t& end) const;
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace lmlab::data
