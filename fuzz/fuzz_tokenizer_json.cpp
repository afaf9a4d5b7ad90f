// layers: data
// tokenizer.json text -> tokenizer_from_json; a tokenizer that loads must encode and decode a
// fixed text (with invalid UTF-8) without crashing.
#include "common.hpp"
#include "data/tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return lmlab::fuzz::run([&] {
    const auto t = lmlab::data::tokenizer_from_json(lmlab::fuzz::parse_json(lmlab::fuzz::text(data, size)), "tokenizer.json");
    const auto ids = t->encode("Hello, world! \xff caf\xc3\xa9");
    (void)t->decode(ids);
  });
}
