// GPT-2 pre-tokenizer on PCRE2: see pretokenize.hpp.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "data/pretokenize.hpp"

#include <pcre2.h>

#include "core/error.hpp"

namespace lmlab::data {

namespace {
// A per-thread match-data block, reused across calls (pcre2_match_data is not shareable
// between threads; allocating one per word would dominate the cost of short words).
struct match_data_holder {
  pcre2_match_data* md = nullptr;
  ~match_data_holder() { if (md) pcre2_match_data_free(md); }
};
}  // namespace

struct gpt2_pretokenizer::impl {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~impl() { if (code) pcre2_code_free(code); }
};

const char* gpt2_pretokenizer::pattern() {
  return R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
}

gpt2_pretokenizer::gpt2_pretokenizer() : impl_(std::make_unique<impl>()) {
  int err = 0;
  PCRE2_SIZE err_off = 0;
  impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern()), PCRE2_ZERO_TERMINATED,
                              PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &err_off, nullptr);
  if (!impl_->code) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(err, buf, sizeof buf);
    throw error(fmt::format("gpt2 pre-tokenizer: PCRE2 cannot compile the pattern at offset {}: {}", err_off,
                            reinterpret_cast<const char*>(buf)),
                "PCRE2 must be built with Unicode support (Debian libpcre2-dev is)");
  }
  impl_->jit = pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE) == 0;
}

gpt2_pretokenizer::~gpt2_pretokenizer() = default;

bool gpt2_pretokenizer::next(std::string_view text, std::size_t off, std::size_t& start, std::size_t& end) const {
  thread_local match_data_holder holder;
  if (!holder.md) holder.md = pcre2_match_data_create(4, nullptr);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  const int rc = impl_->jit ? pcre2_jit_match(impl_->code, subject, text.size(), off, 0, holder.md, nullptr)
                            : pcre2_match(impl_->code, subject, text.size(), off, 0, holder.md, nullptr);
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  if (rc < 0) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(rc, buf, sizeof buf);
    throw error(fmt::format("gpt2 pre-tokenizer: PCRE2 match failed at byte {}: {}", off, reinterpret_cast<const char*>(buf)));
  }
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(holder.md);
  start = ov[0];
  end = ov[1];
  LMLAB_ASSERT(end > start, "the GPT-2 pattern has no empty alternative");
  return true;
}

std::vector<std::string_view> gpt2_pretokenizer::split(std::string_view text) const {
  std::vector<std::string_view> words;
  split(text, [&](std::string_view w) { words.push_back(w); });
  return words;
}

}  // namespace lmlab::data
