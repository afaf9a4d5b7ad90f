// Strict UTF-8 decoding for tokenizers: one code point at a time, with invalid bytes reported
// rather than replaced, so a tokenizer can give them a lossless encoding of its own.
// Not for: general text processing or normalisation (no NFC/NFKC here).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace lmlab::data {

// Decodes the code point at s[i]. On success returns the code point and sets `len` to its
// byte length (1-4). On an invalid sequence (bad lead byte, truncated, overlong, surrogate,
// > U+10FFFF) returns -1 and sets `len` to 1: the caller treats s[i] as one raw byte.
std::int32_t utf8_decode(std::string_view s, std::size_t i, int& len);

// Appends the UTF-8 encoding of code point `cp` (must be a valid scalar value).
void utf8_append(std::string& out, std::uint32_t cp);

// True when the whole string is valid UTF-8.
bool utf8_valid(std::string_view s);

}  // namespace lmlab::data
