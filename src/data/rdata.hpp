// A minimal reader for R's serialization format (XDR, versions 2 and 3) and R lazy-load
// databases (<name>.rdx index + <name>.rdb values), enough to read the character vectors of
// data packages such as Debian r-cran-janeaustenr (Jane Austen's six novels, one line per
// element). No R needed.
//
// Serialization stream: "X\n", then big-endian int32 version, writer R version, minimal reader
// version, and for version 3 the native encoding (int32 length + bytes). Each item starts with
// an int32 flags word: type = flags & 0xFF, object bit 8, attribute bit 9, tag bit 10, levels =
// flags >> 12 (for strings: UTF-8 = 8, Latin-1 = 4, bytes = 2, ASCII = 64). Vectors are an
// int32 length (-1 then two int32 for long vectors) and the elements; a string element is a
// CHARSXP (length -1 = NA). REFSXP (255) refers back to the k-th symbol or environment read,
// k = flags >> 8. Attributes follow a vector as a tagged pairlist ending in NILVALUE (254).
//
// Lazy-load DB: the .rdx file is a serialized list (gzip- or zlib-compressed) with elements
// `variables` (a named list of c(offset, length) into the .rdb), `references`, `compressed`.
// Each value in the .rdb is a big-endian uint32 uncompressed length followed by a zlib stream
// (compressed = 1); with compressed = 2 or 3 a type byte ('Z' zlib, '0' stored, '2' bzip2,
// 'X' xz) sits between the two.
// Not for: environments, closures, bytecode, ALTREP or external pointers (errors naming the
// type and offset), or the ASCII / native-binary stream formats.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "data/readers.hpp"

namespace lmlab::data {

// R SEXP types this reader builds.
enum class r_type : int {
  nil = 0,
  symbol = 1,
  pairlist = 2,
  logical = 10,
  integer = 13,
  real = 14,
  string = 16,
  list = 19,
  raw = 24,
};

struct r_value {
  r_type type = r_type::nil;
  std::vector<std::int32_t> ints;                  // logical (NA = INT32_MIN), integer
  std::vector<double> reals;                       // real
  std::vector<std::optional<std::string>> strings; // string (nullopt = NA); symbol: its name
  std::vector<std::shared_ptr<const r_value>> items;  // list elements; pairlist values
  std::vector<std::string> tags;                      // pairlist tags (parallel to items)
  std::vector<std::uint8_t> bytes;                    // raw
  std::vector<std::pair<std::string, std::shared_ptr<const r_value>>> attributes;

  std::size_t size() const;
  // The attribute `name`, or nullptr.
  const r_value* attribute(const std::string& name) const;
  // The "names" attribute as strings (empty when absent; NA names become "").
  std::vector<std::string> names() const;
};

// Decodes one serialized object. `what` names the source in errors ("<file>: <what>: offset N:
// ...", offsets counted in the uncompressed stream).
r_value r_unserialize(std::span<const std::uint8_t> bytes, const std::string& what);

// Inflates a zlib or gzip stream (auto-detected) and checks the result is `expected` bytes
// long when `expected` >= 0. Errors name `what`.
std::vector<std::uint8_t> inflate_bytes(std::span<const std::uint8_t> in, long long expected, const std::string& what);

// All variables of a lazy-load database, in index order. `base` is the path without the
// extension (…/data/Rdata for Rdata.rdx + Rdata.rdb).
std::vector<std::pair<std::string, r_value>> read_lazyload_db(const std::filesystem::path& base);

// The janeaustenr package folder (…/site-library/janeaustenr): every character vector in its
// data/Rdata database becomes one document (name = variable, e.g. "emma"; text = the elements
// joined by "\n", NA as an empty line), in index order. Errors name the file when it holds no
// character vector or a text is not UTF-8.
std::vector<document> read_r_text_package(const std::filesystem::path& package_dir);

}  // namespace lmlab::data
