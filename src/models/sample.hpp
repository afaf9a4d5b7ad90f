// Autoregressive sampling from any causal_lm: temperature, top-k and nucleus (top-p) filtering, with
// draws from a Philox stream keyed by the seed, so a (model, prompt, options) triple always
// yields the same text. Models with a step mode generate incrementally (KV cache / recurrent
// state) while the sequence fits their position table; otherwise each token reruns the
// forward on the last n_ctx tokens.
// Not for: batched serving (serve/).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "models/causal_lm.hpp"

namespace lmlab::models {

struct sample_options {
  double temperature = 1.0;       // 0: greedy (argmax)
  std::int64_t top_k = 0;         // 0: off
  double top_p = 1.0;             // 1: off
  std::uint64_t seed = 0;
  std::int64_t max_new_tokens = 200;
};

// Picks the next id from one row of logits (V). `u` is a uniform draw in [0, 1).
// ref: Holtzman et al. 2020, "The Curious Case of Neural Text Degeneration", sec. 3.1 (top-p).
std::int32_t pick_token(std::span<const float> logits, const sample_options& opt, double u);

// Generates up to max_new_tokens ids after `prompt` (non-empty); `on_token` sees each new id
// as it is produced (for streaming) and may return false to stop.
std::vector<std::int32_t> generate(causal_lm& model, std::vector<std::int32_t> prompt, const sample_options& opt,
                                   const std::function<bool(std::int32_t)>& on_token = {});

}  // namespace lmlab::models
