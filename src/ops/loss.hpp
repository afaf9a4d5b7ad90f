// Losses with autograd.
#pragma once

#include <cstdint>

#include "core/tensor.hpp"

namespace lmlab {

// Fused log-softmax + negative log-likelihood (PyTorch F.cross_entropy, reduction "mean" over
// targets that are not ignore_index). logits (N, V) f32/f64, targets i32 (N). Returns a scalar.
// Backward: (softmax - onehot) / n_valid, computed from the saved row max and log-sum-exp
// without keeping a softmax copy. All targets ignored -> NaN (as PyTorch).
tensor cross_entropy(const tensor& logits, const tensor& targets, std::int32_t ignore_index = -100);

}  // namespace lmlab
