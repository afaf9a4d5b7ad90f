// Test helper shared by the suites under tests/ that build a causal LM: a small config from
// its five sizes (vocabulary, width, blocks, heads, context), every other key at the model's
// default, so each test states only what it varies. Not for: library code.
#pragma once

#include <cstdint>
#include <string>

#include "models/lm_config.hpp"

namespace lmlab::testing {

inline models::lm_config small_lm(std::int64_t vocab_size, std::int64_t d_model, std::int64_t n_layers,
                                  std::int64_t n_heads, std::int64_t n_ctx) {
  models::lm_config c;
  c.vocab_size = vocab_size;
  c.d_model = d_model;
  c.n_layers = n_layers;
  c.n_heads = n_heads;
  c.n_ctx = n_ctx;
  return c;
}

// The same with one block per letter of `pattern` (A attention, M Mamba, ...).
inline models::lm_config small_lm(std::int64_t vocab_size, std::int64_t d_model, const std::string& pattern,
                                  std::int64_t n_heads, std::int64_t n_ctx) {
  models::lm_config c = small_lm(vocab_size, d_model, static_cast<std::int64_t>(pattern.size()), n_heads, n_ctx);
  c.pattern = pattern;
  return c;
}

}  // namespace lmlab::testing
