// layers: serve
// A request body of POST /v1/completions or /v1/chat/completions as `lmlab serve` reads it:
// parse_request_body (depth-checked), then parse_completion_request or parse_chat_request
// (bit 0 of the first byte picks; bit 1 sets --unknown-char ' ', bit 2 --truncate-prompt)
// against a stub model: a char tokenizer over printable ASCII and a context of 64. Parsing
// only, no generation. An api_error (a 4xx the server would send) is a clean rejection.
#include "common.hpp"
#include "serve/protocol.hpp"

namespace {

struct stub_lm final : lmlab::serve::causal_lm {
  std::int64_t vocab_size() const override { return 95; }
  std::int64_t context() const override { return 64; }
  bool has_kv_cache() const override { return false; }
  std::string architecture() const override { return "stub"; }
  std::unique_ptr<lmlab::serve::decoder> new_decoder() override { return nullptr; }
};

const lmlab::serve::served_model& stub_model() {
  static const lmlab::serve::served_model m = [] {
    std::vector<std::uint32_t> chars;
    for (std::uint32_t c = 32; c < 127; ++c) chars.push_back(c);
    lmlab::serve::served_model s;
    s.name = "stub";
    s.lm = std::make_unique<stub_lm>();
    s.tok = std::make_unique<lmlab::data::char_tokenizer>(chars);
    return s;
  }();
  return m;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return lmlab::fuzz::run([&] {
    if (size == 0) return;
    lmlab::serve::server_limits lim;
    if (data[0] & 2) lim.unknown_char = " ";
    lim.truncate_prompt = (data[0] & 4) != 0;
    try {
      const auto body = lmlab::serve::parse_request_body(lmlab::fuzz::text(data + 1, size - 1));
      if (body.is_discarded()) return;
      if (data[0] & 1) (void)lmlab::serve::parse_chat_request(body, stub_model(), lim);
      else (void)lmlab::serve::parse_completion_request(body, stub_model(), lim);
    } catch (const lmlab::serve::api_error&) {
    }
  });
}
