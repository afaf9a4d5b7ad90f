// Normalisation, softmax and embedding lookups with autograd.
#pragma once

#include "core/tensor.hpp"

namespace lmlab {

// x (..., C); w, b (C) (either may be undefined = no affine). PyTorch F.layer_norm (biased var).
tensor layer_norm(const tensor& x, const tensor& w, const tensor& b, double eps = 1e-5);
// x (..., C); w (C) or undefined. y = x / sqrt(mean(x^2) + eps) * w.
tensor rms_norm(const tensor& x, const tensor& w, double eps = 1e-6);

tensor softmax(const tensor& x, std::int64_t dim = -1);
tensor log_softmax(const tensor& x, std::int64_t dim = -1);

// weight (V, C), ids i32 (...) -> (..., C). Out-of-range ids are an error naming the id.
tensor embedding(const tensor& weight, const tensor& ids);

}  // namespace lmlab
