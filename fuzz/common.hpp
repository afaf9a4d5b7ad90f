// Shared by the fuzz targets (fuzz/fuzz_<name>.cpp): what counts as a clean rejection. An
// lmlab::error is the answer a hostile input should get; anything else (a crash, a sanitizer
// report, bad_alloc, a nlohmann type_error or any other exception escaping a reader) is a
// finding. Text that is not JSON at all is rejected by parse_json, as the product's callers
// (checkpoint, tokenizer loading) turn any parse failure into an lmlab::error naming the file.
// Not for: the targets' own logic.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/checked.hpp"
#include "core/error.hpp"

namespace lmlab::fuzz {

// Caps live tensor memory so that a plausible-looking config is an lmlab::error, not an
// out-of-memory kill of the fuzzer (libFuzzer's -rss_limit_mb is 2 GB by default).
inline constexpr std::size_t default_memory_limit = std::size_t{256} << 20;

// LMLAB_FUZZ_VERBOSE=1 prints each rejection (to check that the seeds are valid inputs).
// `memory_limit`: the live tensor bytes `f` may hold before the limit's lmlab::error.
template <class F>
int run(F&& f, std::size_t memory_limit = default_memory_limit) {
  set_tensor_memory_limit(memory_limit);
  static const bool verbose = std::getenv("LMLAB_FUZZ_VERBOSE") != nullptr;
  try {
    f();
    if (verbose) std::fprintf(stderr, "accepted\n");
  } catch (const lmlab::error& e) {
    if (verbose) std::fprintf(stderr, "rejected: %s\n", e.what());
  }
  return 0;
}

inline nlohmann::json parse_json(const std::string& text) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for 1e705
    throw lmlab::error(std::string("not valid JSON: ") + e.what());
  }
}

inline std::string text(const std::uint8_t* data, std::size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

}  // namespace lmlab::fuzz
