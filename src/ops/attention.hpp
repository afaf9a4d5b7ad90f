// Causal scaled-dot-product attention as one fused, blocked kernel: scores are computed a
// tile at a time with an online softmax (FlashAttention's recurrence, Dao et al. 2022), so
// the (T x T) matrix is never materialised unless a hook asks for the pattern. Backward
// recomputes the tiles from the saved per-row log-sum-exp.
#pragma once

#include <cstdint>

#include "core/tensor.hpp"

namespace lmlab {

struct attention_options {
  bool causal = true;
  double scale = 0;                 // 0 -> 1/sqrt(D)
  std::int64_t window = 0;          // > 0: query t sees keys (t-window, t] (sliding window)
  tensor alibi_slopes;              // optional (H): adds -slope_h * (t - s) to scores (ALiBi)
  tensor* pattern_out = nullptr;    // when set: receives softmax probabilities (B, H, T, S)
  // Keys/values have H_kv heads; query head h reads kv head h / (H / H_kv) (GQA/MQA).
};

// q (B, H, T, D), k and v (B, H_kv, S, D) with H % H_kv == 0 -> (B, H, T, D).
// Inputs whose last dim is contiguous (e.g. transposed (B, T, H, D) views) are read in place.
// The result is a (B, H, T, D) view of a contiguous (B, T, H, D) buffer: transpose(o, 1, 2)
// is contiguous, so merging the heads back to (B, T, C) copies nothing.
// Causal alignment: query t attends to keys s <= t + (S - T) (queries are the last T positions).
tensor attention(const tensor& q, const tensor& k, const tensor& v, const attention_options& opt = {});

// The naive reference: materialises scores and softmax; used by tests and for hooks.
tensor attention_reference(const tensor& q, const tensor& k, const tensor& v, const attention_options& opt = {});

}  // namespace lmlab
